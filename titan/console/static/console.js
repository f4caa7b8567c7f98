// Titan console: plain ES module, no build step. Live over /ws, actions over the JSON API.
// Every action tells the operator what happened (a toast that stays for errors, and the
// action log on the System tab). Missing data is shown as missing, never guessed.

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

const state = {
  status: null,          // last /api/status (from the socket)
  prices: {},            // symbol -> price string
  positions: null,       // last /api/state/positions
  alerts: [],            // newest last
  sprungEvents: [],      // TRAP_SPRUNG events seen on the socket
  config: null,
  configMissing: false,
  serverOffsetMs: 0,     // server clock − browser clock
  lastMessageAt: 0,
  tab: 'overview',
};

// ---------------------------------------------------------------------------- helpers

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function setText(id, text) { const n = document.getElementById(id); if (n) n.textContent = text; }

function num(v) {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function money(v, { sign = false } = {}) {
  const n = num(v);
  if (n === null) return '—';
  const s = Math.abs(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const prefix = n < 0 ? '−' : sign && n > 0 ? '+' : '';
  return `${prefix}$${s}`;
}

function pct(v, digits = 2, { sign = false } = {}) {
  const n = num(v);
  if (n === null) return '—';
  const s = (Math.abs(n) * 100).toFixed(digits);
  return `${n < 0 ? '−' : sign && n > 0 ? '+' : ''}${s}%`;
}

function plain(v) {
  const n = num(v);
  if (n === null) return v === null || v === undefined || v === '' ? '—' : String(v);
  return n.toLocaleString('en-US', { maximumFractionDigits: 8 });
}

// A price on the instrument's tick (e.g. "0.10" → 2 decimals), not a float's 8+.
function onTick(v, tick) {
  const n = num(v);
  if (n === null) return plain(v);
  const decimals = tick && String(tick).includes('.') ? String(tick).split('.')[1].replace(/0+$/, '').length : null;
  if (decimals === null) return plain(v);
  return n.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function signClass(v) { const n = num(v); return n === null || n === 0 ? '' : n > 0 ? 'pos' : 'neg'; }

function fmtTime(iso) {
  if (!iso) return '—';
  const d = typeof iso === 'number' ? new Date(iso) : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

function fmtDuration(ms) {
  if (ms <= 0) return '0s';
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m ${String(sec).padStart(2, '0')}s`
    : `${m}m ${String(sec).padStart(2, '0')}s`;
}

function serverNow() { return Date.now() + state.serverOffsetMs; }

function pill(node, text, kind) {
  node.textContent = text;
  node.classList.remove('ok', 'warn', 'bad');
  if (kind) node.classList.add(kind);
}

// ---------------------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status; this.code = code; this.details = details;
  }
}

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' };
  if (method !== 'GET') {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body ?? {});
  }
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `cannot reach Titan (${e.message || e}); the request may not have arrived`);
  }
  let data = null;
  const text = await resp.text();
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (!resp.ok) {
    const err = data && data.error;
    if (err) throw new ApiError(resp.status, err.code || `HTTP_${resp.status}`, err.message || resp.statusText, err.details);
    throw new ApiError(resp.status, `HTTP_${resp.status}`, `${resp.status} ${resp.statusText}`);
  }
  return data;
}

function errorText(e) {
  if (e instanceof ApiError) return `${e.message} [${e.code}${e.status ? ` · HTTP ${e.status}` : ''}]`;
  return String(e && e.message ? e.message : e);
}

// ---------------------------------------------------------------------------- toasts and log

const actionLog = [];

function toast(kind, text) {
  const box = $('#toasts');
  const t = el('div', { class: `toast ${kind}`, role: kind === 'err' ? 'alert' : 'status' },
    el('span', { class: 'toast-body', text }),
    el('button', { type: 'button', class: 'btn small', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '✕'));
  box.append(t);
  while (box.children.length > 5) box.firstElementChild.remove();
  // Errors stay until dismissed: at 3 a.m. nobody should miss one.
  if (kind === 'ok') setTimeout(() => t.remove(), 8000);
  actionLog.push({ at: new Date().toISOString(), kind, text });
  renderActionLog();
}

function renderActionLog() {
  const ul = $('#action-log');
  ul.replaceChildren(...actionLog.slice(-50).reverse().map((a) => el('li', {},
    el('span', { class: 'ts', text: fmtTime(a.at) }),
    el('span', { class: `sev ${a.kind === 'ok' ? 'sev-OK' : 'sev-ERROR'}`, text: a.kind === 'ok' ? 'DONE' : 'FAILED' }),
    el('span', { text: a.text }))));
  if (!actionLog.length) ul.replaceChildren(el('li', { class: 'muted', text: 'No actions yet.' }));
}

// Run one operator action: disable its button while in flight, report the outcome.
async function act(button, label, fn, describe) {
  if (button) { button.disabled = true; button.classList.add('busy'); }
  try {
    const result = await fn();
    const { ok, text } = describe(result);
    toast(ok ? 'ok' : 'err', `${label}: ${text}`);
    return result;
  } catch (e) {
    toast('err', `${label} FAILED: ${errorText(e)}`);
    throw e;
  } finally {
    if (button) { button.disabled = false; button.classList.remove('busy'); }
    refreshStatusSoon();
  }
}

// ---------------------------------------------------------------------------- dialog

// ask({title, message, danger, confirmText, input: {label, required, type, placeholder, match}})
// resolves to the typed value ('' without an input) or null when cancelled.
function ask({ title, message, danger = false, confirmText = 'OK', input = null }) {
  const dlg = $('#dlg');
  const inp = $('#dlg-input');
  return new Promise((resolve) => {
    $('#dlg-title').textContent = title;
    $('#dlg-message').textContent = message || '';
    dlg.classList.toggle('danger', danger);
    const ok = $('#dlg-ok');
    ok.textContent = confirmText;
    ok.className = `btn ${danger ? 'btn-kill' : 'btn-primary'}`;
    $('#dlg-input-wrap').hidden = !input;
    $('#dlg-input-error').textContent = '';
    inp.value = '';
    if (input) {
      $('#dlg-input-label').textContent = input.label;
      inp.type = input.type || 'text';
      inp.placeholder = input.placeholder || '';
      inp.inputMode = input.inputMode || '';
    }
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      cleanup();
      if (dlg.open) dlg.close();
      resolve(value);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      if (input) {
        const v = inp.value.trim();
        if (input.required && !v) {
          $('#dlg-input-error').textContent = `${input.label} is required.`;
          inp.focus();
          return;
        }
        finish(v);
      } else finish('');
    };
    const onCancel = (ev) => { ev.preventDefault(); finish(null); };
    const onCancelBtn = () => finish(null);
    const onClose = () => finish(null);
    const form = $('#dlg-form');
    const cancelBtn = $('#dlg-cancel');
    function cleanup() {
      form.removeEventListener('submit', onSubmit);
      dlg.removeEventListener('cancel', onCancel);
      dlg.removeEventListener('close', onClose);
      cancelBtn.removeEventListener('click', onCancelBtn);
    }
    form.addEventListener('submit', onSubmit);
    dlg.addEventListener('cancel', onCancel);   // Escape
    dlg.addEventListener('close', onClose);
    cancelBtn.addEventListener('click', onCancelBtn);
    dlg.showModal();
    // A destructive confirmation starts on Cancel so a stray Enter does nothing harmful.
    (input ? inp : danger ? cancelBtn : ok).focus();
  });
}

// ---------------------------------------------------------------------------- research

let backtestsTimer = null;

// The Research tab: backtest runs with their headline figures; a running one is polled
// (its percentage) until it ends. Figures are shown as the report gives them.
async function loadBacktests() {
  clearTimeout(backtestsTimer);
  const body = $('#backtests');
  let data;
  try {
    data = await api('GET', '/api/backtests');
  } catch (e) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 11, class: 'muted', text: `cannot load: ${errorText(e)}` })));
    return;
  }
  const runs = data.backtests || [];
  if (!runs.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 11, class: 'muted', text: 'No backtests yet.' })));
    return;
  }
  const pct = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)} %`);
  body.replaceChildren(...runs.map((r) => {
    const p = r.params || {};
    const res = r.results || {};
    const status = r.status === 'running' ? `running ${r.progress.toFixed(1)} %` : r.status;
    return el('tr', { 'data-run': r.id },
      el('td', { text: r.createdAt || '—' }),
      el('td', { text: p.strategy || '—' }),
      el('td', { text: (p.symbols || []).join(', ') }),
      el('td', { text: `${p.start || '?'} → ${p.end || '?'}` }),
      el('td', { class: `bt-status bt-${r.status}`, title: r.error || '', text: status }),
      el('td', { text: res.trades ?? '—' }),
      el('td', { text: res.net_pnl ?? '—' }),
      el('td', { text: pct(res.win_rate) }),
      el('td', { text: res.max_drawdown ?? '—' }),
      el('td', { text: res.sharpe ?? '—' }),
      el('td', {}, r.reportUrl ? el('a', { href: r.reportUrl, target: '_blank', rel: 'noopener', text: 'open report' }) : '—'));
  }));
  if (runs.some((r) => r.status === 'running') && state.tab === 'research') {
    backtestsTimer = setTimeout(loadBacktests, 1000);
  }
}

// ---------------------------------------------------------------------------- tabs

// Phase 3 last: adding it moved no other tab (the toasts sit over the row's right end).
const TABS = ['overview', 'phase1', 'phase2', 'positions', 'settings', 'system', 'research', 'phase3'];

function showTab(name, { focus = false } = {}) {
  if (!TABS.includes(name)) name = 'overview';
  state.tab = name;
  for (const t of TABS) {
    const tab = $(`#tab-${t}`);
    const sel = t === name;
    tab.setAttribute('aria-selected', String(sel));
    tab.tabIndex = sel ? 0 : -1;
    $(`#panel-${t}`).hidden = !sel;
  }
  if (focus) $(`#tab-${name}`).focus();
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  if (name === 'positions') loadPositions();
  if (name === 'settings') loadSettings();
  if (name === 'system') loadAudit();
  if (name === 'phase1') loadPerformance();
  if (name === 'phase2') loadHunter();
  if (name === 'phase3') loadSentinel();
  if (name === 'research') loadBacktests();
  if (name === 'overview') charts.resize();
}

function setupTabs() {
  for (const t of TABS) $(`#tab-${t}`).addEventListener('click', () => showTab(t));
  $('#btn-backtests-refresh').addEventListener('click', loadBacktests);
  $('.tabs').addEventListener('keydown', (ev) => {
    const i = TABS.indexOf(state.tab);
    let next = null;
    if (ev.key === 'ArrowRight') next = TABS[(i + 1) % TABS.length];
    if (ev.key === 'ArrowLeft') next = TABS[(i - 1 + TABS.length) % TABS.length];
    if (ev.key === 'Home') next = TABS[0];
    if (ev.key === 'End') next = TABS[TABS.length - 1];
    if (next) { ev.preventDefault(); showTab(next, { focus: true }); }
  });
  window.addEventListener('hashchange', () => showTab(location.hash.slice(1)));
}

// ---------------------------------------------------------------------------- charts

const charts = {
  lib: null, equity: null, equitySeries: null, price: null, priceSeries: null,
  lastEquityT: 0, priceHistory: {}, lastPriceT: {}, symbol: null,
  async init() {
    try {
      this.lib = await import('/vendor/lightweight-charts.mjs');
    } catch (e) {
      const msg = 'Charts unavailable: the charting library (lightweight-charts) is not installed on the server. Run ./scripts/run once with npm available. Everything else works.';
      setText('chart-equity-note', msg);
      setText('chart-price-note', msg);
      $('#chart-equity').style.height = '0';
      $('#chart-price').style.height = '0';
      return;
    }
    const opts = {
      autoSize: true,
      layout: { background: { color: '#141a22' }, textColor: '#c9d3de', fontSize: 13 },
      grid: { vertLines: { color: '#1f2833' }, horzLines: { color: '#1f2833' } },
      timeScale: { timeVisible: true, secondsVisible: true, borderColor: '#2a3542' },
      rightPriceScale: { borderColor: '#2a3542' },
      localization: { timeFormatter: (t) => new Date(t * 1000).toISOString().slice(11, 19) },
    };
    const { createChart, LineSeries, AreaSeries } = this.lib;
    this.equity = createChart($('#chart-equity'), opts);
    this.equitySeries = this.equity.addSeries(AreaSeries, {
      lineColor: '#5aa9ff', topColor: 'rgba(90,169,255,0.35)', bottomColor: 'rgba(90,169,255,0.02)', lineWidth: 2,
    });
    this.price = createChart($('#chart-price'), opts);
    this.priceSeries = this.price.addSeries(LineSeries, { color: '#f5c542', lineWidth: 2 });
  },
  resize() { /* autoSize handles it */ },
  setEquityCurve(points) {
    if (!this.equitySeries) return;
    const data = [];
    let last = 0;
    for (const p of points || []) {
      const t = Math.floor(new Date(p.ts).getTime() / 1000);
      const v = num(p.equity);
      if (!Number.isFinite(t) || v === null || t <= last) continue;
      data.push({ time: t, value: v });
      last = t;
    }
    this.equitySeries.setData(data);
    this.lastEquityT = last;
    if (!data.length) setText('chart-equity-note', 'Waiting for equity data…');
  },
  addEquity(tsIso, value) {
    if (!this.equitySeries || value === null) return;
    const t = Math.floor((tsIso ? new Date(tsIso).getTime() : serverNow()) / 1000);
    if (!Number.isFinite(t) || t < this.lastEquityT) return;
    this.equitySeries.update({ time: t, value });
    this.lastEquityT = t;
    setText('chart-equity-note', '');
  },
  addPrices(prices, tsIso) {
    const t = Math.floor((tsIso ? new Date(tsIso).getTime() : serverNow()) / 1000);
    for (const [sym, p] of Object.entries(prices || {})) {
      const v = num(p);
      if (v === null) continue;
      const h = (this.priceHistory[sym] ||= []);
      if (h.length && h[h.length - 1].time > t) continue;
      if (h.length && h[h.length - 1].time === t) h[h.length - 1].value = v; else h.push({ time: t, value: v });
      if (h.length > 3600) h.splice(0, h.length - 3600);
      if (sym === this.symbol && this.priceSeries) this.priceSeries.update({ time: t, value: v });
    }
  },
  showSymbol(sym) {
    this.symbol = sym;
    if (this.priceSeries) this.priceSeries.setData((this.priceHistory[sym] || []).slice());
  },
};

function updateSymbolSelect() {
  const sel = $('#price-symbol');
  const syms = Object.keys(state.prices).sort();
  const have = $$('option', sel).map((o) => o.value);
  if (syms.join() !== have.join()) {
    const cur = sel.value || charts.symbol;
    sel.replaceChildren(...syms.map((s) => el('option', { value: s, text: s })));
    const preferred = cur && syms.includes(cur) ? cur
      : (state.status?.positions?.[0]?.symbol && syms.includes(state.status.positions[0].symbol))
        ? state.status.positions[0].symbol : syms.includes('BTCUSDT') ? 'BTCUSDT' : syms[0];
    if (preferred) { sel.value = preferred; if (preferred !== charts.symbol) charts.showSymbol(preferred); }
  }
  const last = state.prices[sel.value];
  setText('price-last', last ? `last ${plain(last)}` : '');
}

// ---------------------------------------------------------------------------- rendering

function renderStatus() {
  const s = state.status;
  if (!s) return;
  // cards
  const eq = num(s.equity ?? s.wallet?.equity);
  setText('card-equity', eq === null ? '—' : money(eq));
  const upnl = num(s.unrealisedPnl ?? s.wallet?.unrealisedPnl);
  setText('card-equity-sub', upnl === null ? '' : `unrealised ${money(upnl, { sign: true })}`);
  const ph = s.phase;
  setText('card-phase', ph && ph.number !== undefined && ph.number !== null ? String(ph.number) : '—');
  setText('card-phase-sub', ph ? `${ph.name || ''}${ph.known === false ? ' (equity unknown)' : ''}` : '');
  const dd = num(s.drawdown);
  const ddNode = $('#card-drawdown');
  ddNode.textContent = dd === null ? '—' : dd > 0 ? `−${(dd * 100).toFixed(2)}%` : `${(Math.abs(dd) * 100).toFixed(2)}%`;
  ddNode.className = `card-value ${dd !== null && dd > 0 ? 'neg' : ''}`;
  const limit = num(s.phase?.limits?.maxDailyDrawdown);
  setText('card-drawdown-sub', limit === null ? 'today, vs 00:00 UTC' : `limit ${pct(limit, 1)} (breaker)`);
  const pnlNode = $('#card-pnl');
  pnlNode.textContent = money(s.dailyPnl, { sign: true });
  pnlNode.className = `card-value ${signClass(s.dailyPnl)}`;
  setText('card-pnl-sub', s.dayStartEquity ? `day start ${money(s.dayStartEquity)} · realised` : 'realised');
  const tr = s.trades || {};
  const today = num(tr.today) ?? 0;
  const wins = num(tr.wins) ?? 0, losses = num(tr.losses) ?? 0;
  const decided = wins + losses;
  setText('card-winrate', decided ? `${((wins / decided) * 100).toFixed(0)}%` : '—');
  setText('card-winrate-sub', decided ? `${wins} won · ${losses} lost` : 'no closed trades today');
  setText('card-trades', String(today));
  setText('card-trades-sub', `open positions: ${(s.positions || []).length} · open orders: ${(s.openOrders || []).length}`);

  // master arm
  const armed = s.armed === true || s.masterArm === 'ARMED';
  const armNode = $('#arm-state');
  pill(armNode, armed ? '🟢 ARMED' : '🔴 DISARMED', armed ? 'ok' : 'bad');
  pill($('#hdr-arm'), armed ? 'ARMED' : 'DISARMED', armed ? 'ok' : 'bad');
  $('#btn-arm').hidden = armed;
  $('#btn-disarm').hidden = !armed;
  const d = s.masterArmDetail || {};
  const bits = [];
  if (d.reason) bits.push(`reason: ${d.reason}`);
  if (d.actor) bits.push(`by ${d.actor}`);
  if (d.changedAt) bits.push(`at ${fmtTime(d.changedAt)}`);
  if (d.startupPending) bits.push('start-up checks still running');
  setText('arm-detail', bits.join(' · '));

  // halt
  const hs = s.haltState || s.halt?.state || 'UNKNOWN';
  const hk = hs === 'OPEN' ? 'ok' : hs === 'SOFT_HALT' ? 'warn' : 'bad';
  pill($('#hdr-halt'), hs, hk);
  pill($('#halt-state'), hs, hk);
  const h = s.halt || {};
  setText('halt-detail', [h.reason && `reason: ${h.reason}`, h.actor && `by ${h.actor}`, h.changedAt && `at ${fmtTime(h.changedAt)}`].filter(Boolean).join(' · '));
  for (const b of $$('[data-halt]')) b.setAttribute('aria-pressed', String(b.dataset.halt === hs));

  // breaker
  const cb = s.circuitBreaker || {};
  pill($('#breaker-state'), cb.tripped ? 'TRIPPED' : 'OK', cb.tripped ? 'bad' : 'ok');
  setText('breaker-detail', cb.tripped ? [cb.reason, cb.trippedAt && `tripped ${fmtTime(cb.trippedAt)}`, cb.cooldownUntil && `cooldown until ${fmtTime(cb.cooldownUntil)}`].filter(Boolean).join(' · ') : 'not tripped');

  // venues
  const vb = s.bybitConnected, vn = s.binanceConnected;
  pill($('#venue-bybit'), vb === undefined ? 'unknown' : vb ? '🟢 Connected' : '🔴 Disconnected', vb ? 'ok' : 'bad');
  pill($('#venue-binance'), vn === undefined ? 'unknown' : vn ? '🟢 Connected' : '🔴 Disconnected', vn ? 'ok' : 'bad');
  const v = s.venue || {};
  const streams = Object.entries({ ...(v.streams || {}) }).map(([k, x]) => `bybit ${k}: ${x}`)
    .concat(Object.entries(v.feed || {}).map(([k, x]) => `binance ${k}: ${x}`));
  setText('venue-detail', `${v.name ? `profile: ${v.name} · ` : ''}${streams.join(' · ')}`);

  renderRegime(s.regime);

  // system info
  const info = [
    ['Version', s.version], ['Uptime', s.uptime_s !== undefined ? fmtDuration(s.uptime_s * 1000) : null],
    ['Server time (UTC)', fmtTime(s.serverTime)], ['Config version', s.configVersion || s.config?.version_tag || state.config?.version_tag],
    ['Strategies', s.strategies ? (s.strategies.paused ? `paused: ${Object.entries(s.strategies.pauses || {}).map(([k, r]) => `${k} (${r})`).join(', ')}` : 'running') : null],
    ['NATS command bus', natsText(s.nats)],
    ['Notifications', notifyText(s.notifications)],
    ['Last reconciliation', s.lastReconciliation ? `${fmtTime(s.lastReconciliation.ts)} · ${s.lastReconciliation.trigger} · ${s.lastReconciliation.clean ? 'clean' : s.lastReconciliation.ok ? `${(s.lastReconciliation.mismatches || []).length} mismatch(es)` : `FAILED: ${s.lastReconciliation.error}`}` : 'none yet'],
  ];
  $('#sys-info').replaceChildren(...info.filter(([, val]) => val !== null && val !== undefined && val !== '')
    .flatMap(([k, val]) => [el('dt', { text: k }), el('dd', { text: String(val) })]));

  renderBanners();
  renderScavenger();
  renderOrders();
}

// The tail-risk regime per symbol (status.regime, SPEC §17): CRASH red, volatile amber.
const REGIME_KIND = { CRASH: 'bad', VOLATILE_BREAKOUT: 'warn', MEAN_REVERSION: '', STABLE: 'ok', UNKNOWN: '' };
function renderRegime(regime) {
  const rows = Object.entries(regime || {}).sort(([a], [b]) => a.localeCompare(b));
  const fixed = (v, d) => (v === null || v === undefined ? '—' : Number(v).toFixed(d));
  $('#regime-rows').replaceChildren(...(rows.length ? rows.map(([sym, r]) => el('tr', { 'data-symbol': sym },
    el('td', { text: sym }),
    el('td', {}, el('span', { class: `pill ${REGIME_KIND[r.regime] || ''}`, 'data-regime': r.regime, text: r.regime })),
    el('td', { text: fixed(r.alpha, 2) }),
    el('td', { text: r.exceedance === null || r.exceedance === undefined ? '—' : `${(r.exceedance * 100).toFixed(2)}%` }),
    el('td', { text: r.clustering === null || r.clustering === undefined ? '—' : `${fixed(r.clustering, 2)} (${r.clusteringKind})` }),
    el('td', { text: fixed(r.sizeScale, 2) }),
    el('td', { text: String(r.samples ?? '—') }))) : [el('tr', {}, el('td', { colspan: '7', class: 'muted', text: 'no symbol read yet' }))]));
}

// The runbook's command bus (TITAN_NATS_URL): off, or its connection state and why not.
function natsText(n) {
  if (!n) return null;
  if (!n.configured) return 'off (TITAN_NATS_URL not set)';
  if (n.connected) return `🟢 connected · ${n.url} · obeys ${(n.subjects || []).join(', ')}`;
  return `🔴 ${n.state}${n.url ? ` · ${n.url}` : ''}${n.lastError ? ` · ${n.lastError}` : ''}`;
}

// Push notifications (TITAN_NOTIFY_URLS): sent / failed counts, and which URL last failed.
function notifyText(n) {
  if (!n) return null;
  if (!n.enabled) return 'off (TITAN_NOTIFY_URLS not set)';
  const bad = (n.targets || []).filter((t) => t.failed > 0)
    .map((t) => `${t.url} failed ${t.failed}×, last ${fmtTime(t.lastErrorAt)}`);
  return `${n.sent} sent · ${n.failed} FAILED · ${n.dropped} dropped · min ${n.minSeverity}`
    + (bad.length ? ` — ${bad.join('; ')}` : '');
}

function renderBanners() {
  const s = state.status;
  const box = $('#banners');
  const out = [];
  if (s) {
    const hs = s.haltState || s.halt?.state;
    if (hs === 'HARD_HALT' || hs === 'SOFT_HALT') {
      const h = s.halt || {};
      out.push(el('div', { class: `banner ${hs === 'HARD_HALT' ? 'bad' : 'warn'}`, id: 'banner-halt' },
        `${hs === 'HARD_HALT' ? '🛑 HARD_HALT' : '⏸ SOFT_HALT'} — ${hs === 'HARD_HALT' ? 'no new entries; orders cancelled, positions flattened' : 'no new entries (reduce-only); exits still managed'}`,
        el('span', { class: 'banner-sub', text: `Reason: ${h.reason || '—'}${h.actor ? ` · by ${h.actor}` : ''}${h.changedAt ? ` · since ${fmtTime(h.changedAt)} UTC` : ''} · leave with OPEN on the System tab` })));
    }
    const cb = s.circuitBreaker || {};
    if (cb.tripped) {
      const until = cb.cooldownUntil ? new Date(cb.cooldownUntil).getTime() : null;
      const left = until ? fmtDuration(until - serverNow()) : 'unknown';
      out.push(el('div', { class: 'banner bad', id: 'banner-breaker' },
        `⚡ CIRCUIT BREAKER TRIPPED — new entries denied, positions stay open`,
        el('span', { class: 'banner-sub', text: `Reason: ${cb.reason || '—'}${cb.trippedAt ? ` · at ${fmtTime(cb.trippedAt)} UTC` : ''} · cooldown remaining: ${left}${until ? ` (until ${fmtTime(cb.cooldownUntil)} UTC)` : ''} · still DISARMED after it clears` })));
    }
    if (s.bybitConnected === false || s.binanceConnected === false) {
      const which = [s.bybitConnected === false && 'Bybit', s.binanceConnected === false && 'Binance'].filter(Boolean).join(' and ');
      out.push(el('div', { class: 'banner warn', id: 'banner-venue' }, `📡 ${which} not connected — Scavenger paused, positions watched by REST`));
    }
  }
  if (conn.state !== 'connected' && state.lastMessageAt) {
    out.push(el('div', { class: 'banner info', id: 'banner-stale' },
      `Live data paused — values shown are from ${new Date(state.lastMessageAt).toISOString().slice(11, 19)} UTC. Actions still go straight to the server.`));
  }
  box.replaceChildren(...out);
}

function renderAlerts() {
  const ul = $('#alerts');
  if (!state.alerts.length) { ul.replaceChildren(el('li', { class: 'muted', text: 'No alerts yet.' })); return; }
  ul.replaceChildren(...state.alerts.slice(-50).reverse().map((a) => el('li', {},
    el('span', { class: 'ts', text: fmtTime(a.ts) }),
    el('span', { class: `sev sev-${a.severity}`, text: a.severity }),
    el('strong', { text: a.event || a.name || '' }),
    el('span', { text: a.message || '' }))));
}

function renderScavenger() {
  const sc = state.status?.scavenger;
  const box = $('#scav-state');
  if (!sc) {
    box.replaceChildren(el('span', { class: 'pill warn', text: 'not running yet' }), ' ',
      el('span', { class: 'muted', text: 'The Scavenger is not wired into this build: no traps are armed.' }));
    $('#traps').replaceChildren(el('tr', {}, el('td', { colspan: 7, class: 'muted', text: 'Scavenger not running yet.' })));
  } else {
    const running = sc.running === true;
    box.replaceChildren(
      el('span', { class: `pill big ${running ? 'ok' : 'warn'}`, text: running ? '▶ RUNNING' : '⏸ PAUSED' }), ' ',
      el('span', { class: 'muted', text: running ? '' : `reason: ${sc.pauseReason || Object.values(sc.pauses || {}).join(', ') || '—'}` }));
    const reach = num(sc.reachPct) ?? 5;
    const rows = (sc.armedTraps || sc.armed || []).map((t) => {
      const price = state.prices[t.symbol];
      let dist = num(t.distancePct);
      if (price && num(t.level) !== null) dist = Math.abs(num(t.level) - num(price)) / num(price) * 100;
      return { t, price, dist };
    });
    // A trap far from the price cannot spring soon: it is counted, not shown as armed.
    const near = rows.filter((r) => r.dist === null || r.dist <= reach);
    const far = rows.length - near.length;
    const farNote = $('#traps-far');
    farNote.hidden = far === 0;
    farNote.textContent = far ? `${far} more armed trap${far === 1 ? '' : 's'} farther than ${reach}% from the price ${far === 1 ? 'is' : 'are'} not listed: that far away ${far === 1 ? 'it' : 'they'} cannot spring soon.` : '';
    $('#traps').replaceChildren(...(near.length ? near.map(({ t, price, dist }) => el('tr', {},
      el('td', { text: t.symbol }), el('td', { text: t.label || t.kind || '—' }),
      el('td', { text: t.direction || '—' }), el('td', { class: 'num', text: onTick(t.level, t.tick) }),
      el('td', { class: 'num', text: onTick(price, t.tick) }),
      el('td', { class: 'num', text: dist === null ? '—' : `${dist.toFixed(2)}%` }),
      el('td', { class: 'num', text: num(t.score) === null ? '—' : num(t.score).toFixed(1) })))
      : [el('tr', {}, el('td', { colspan: 7, class: 'muted', text: rows.length ? `No trap within ${reach}% of the price.` : 'No traps armed.' }))]));
  }
  renderStrategies();
  const fromStatus = (sc?.sprung || []).map((r) => ({
    ts: r.tsMs ?? r.ts, symbol: r.symbol, kind: r.kind, direction: r.direction,
    level: r.level, price: r.price, score: r.score, outcome: r.outcome }));
  const fromEvents = state.sprungEvents.map((e) => ({
    ts: e.ts, symbol: e.data?.symbol, kind: e.data?.kind, direction: e.data?.direction,
    level: e.data?.level, price: e.data?.price, score: e.data?.score, outcome: e.data?.outcome || e.message }));
  const hist = fromStatus.length ? fromStatus : fromEvents.slice().reverse();
  $('#sprung').replaceChildren(...(hist.length ? hist.slice(0, 100).map((r) => el('tr', {},
    el('td', { text: fmtTime(r.ts) }), el('td', { text: r.symbol || '—' }), el('td', { text: r.kind || '—' }),
    el('td', { text: r.direction || '—' }), el('td', { class: 'num', text: plain(r.level) }),
    el('td', { class: 'num', text: plain(r.price) }),
    el('td', { class: 'num', text: num(r.score) === null ? '—' : num(r.score).toFixed(1) }),
    el('td', { text: r.outcome || '' })))
    : [el('tr', {}, el('td', { colspan: 8, class: 'muted', text: 'No trap has sprung yet.' }))]));
}

// -------------------------------------------------------------------------- phase 2

// Hunter's state (GET /api/strategies/hunter), read while the Phase 2 tab is open.
async function loadHunter() {
  try {
    state.hunter = await api('GET', '/api/strategies/hunter');
  } catch {
    state.hunter = null;
  }
  renderHunter();
}

function hunterRows(id, cols, rows, empty) {
  $(id).replaceChildren(...(rows.length ? rows
    : [el('tr', {}, el('td', { colspan: cols, class: 'muted', text: empty }))]));
}

function renderHunter() {
  const h = state.hunter;
  const box = $('#hunter-state');
  if (!h) {
    box.replaceChildren(el('span', { class: 'pill warn', text: 'not available' }), ' ',
      el('span', { class: 'muted', text: 'Hunter is not registered in this build.' }));
    return;
  }
  const pauses = h.strategy?.pauses || {};
  const scan = h.lastScan;
  box.replaceChildren(
    el('span', { class: `pill big ${h.running ? 'ok' : 'warn'}`, text: h.running ? '▶ RUNNING' : '⏸ PAUSED' }), ' ',
    el('span', { class: 'muted', text: h.running ? '' : `reason: ${Object.entries(pauses).map(([k, r]) => `${k} (${r})`).join(', ') || '—'}` }), ' ',
    el('span', { class: 'muted', text: scan ? `last scan ${fmtTime(scan.atMs)}: ${scan.analysed} of ${scan.universe} analysed, session ${scan.session}; loss streak ${h.lossStreak}` : 'no scan yet' }));
  hunterRows('#hunter-ranked', 9, (h.ranked || []).map((r) => el('tr', {},
    el('td', { text: r.symbol }), el('td', { text: r.trends?.daily || '—' }),
    el('td', { text: r.trends?.h4 || '—' }), el('td', { text: r.trends?.m15 || '—' }),
    el('td', { text: r.location || '—' }), el('td', { text: r.direction || '—' }),
    el('td', { class: 'num', text: String(r.score) }), el('td', { text: r.grade }),
    el('td', { text: Object.entries(r.veto || {}).map(([d, why]) => `${d}: ${why}`).join('; ') || '—' }))),
  scan ? 'Nothing ranked: see the skipped symbols in the decisions.' : 'No scan yet.');
  const pois = [];
  for (const [sym, p] of Object.entries(h.pois || {})) {
    for (const z of p.zones || []) pois.push(el('tr', {}, el('td', { text: sym }), el('td', { text: z.kind }),
      el('td', { text: z.direction }), el('td', { class: 'num', text: plain(z.low) }),
      el('td', { class: 'num', text: plain(z.high) }), el('td', { class: 'num', text: plain(z.entry) }),
      el('td', { class: 'num', text: `${num(z.confidence)?.toFixed(0) ?? '—'}${z.confluence ? ' (confluence)' : ''}` })));
    for (const pl of p.pools || []) pois.push(el('tr', {}, el('td', { text: sym }), el('td', { text: 'POOL' }),
      el('td', { text: pl.side }), el('td', { class: 'num', text: plain(pl.price) }), el('td', { text: '' }),
      el('td', { text: '' }), el('td', { class: 'num', text: num(pl.strength)?.toFixed(0) ?? '—' })));
  }
  hunterRows('#hunter-pois', 7, pois, 'No POI near the price of the top 5.');
  const flowCell = (s) => (s ? `${s.pattern} ${num(s.strength)?.toFixed(0) ?? 0}${s.confirms ? ' ✓' : ''}` : '—');
  hunterRows('#hunter-flow', 5, Object.entries(h.flow || {}).map(([sym, f]) => el('tr', {},
    el('td', { text: sym }), el('td', { class: `num ${signClass(f.cvd)}`, text: plain(f.cvd) }),
    el('td', { class: 'num', text: String(f.trades) }), el('td', { text: flowCell(f.long) }),
    el('td', { text: flowCell(f.short) }))), 'No order flow tracked yet.');
  hunterRows('#hunter-positions', 8, (h.positions || []).map((p) => el('tr', {},
    el('td', { text: p.symbol }), el('td', { text: p.state }), el('td', { text: p.direction }),
    el('td', { class: 'num', text: plain(p.entry) }), el('td', { class: 'num', text: plain(p.stop) }),
    el('td', { class: 'num', text: plain(p.target) }), el('td', { class: 'num', text: plain(p.qty) }),
    el('td', { text: p.done ? [p.done.breakeven && 'break-even', p.done.partial && `half closed (${plain(p.done.partialQty)})`, p.done.trailing && 'trailing'].filter(Boolean).join(', ') || '—' : `attempt ${p.attempt}` }))),
  'No Hunter position.');
  hunterRows('#hunter-decisions', 3, (h.decisions || []).slice(0, 50).map((d) => el('tr', {},
    el('td', { text: fmtTime(d.atMs) }), el('td', { text: d.event }), el('td', { text: d.message }))),
  'No decision yet.');
}

// -------------------------------------------------------------------------- phase 3

// Sentinel's state (GET /api/strategies/sentinel), read while the Phase 3 tab is open.
async function loadSentinel() {
  try {
    state.sentinel = await api('GET', '/api/strategies/sentinel');
  } catch {
    state.sentinel = null;
  }
  renderSentinel();
}

function renderSentinel() {
  const s = state.sentinel;
  const box = $('#sentinel-state');
  if (!s) {
    box.replaceChildren(el('span', { class: 'pill warn', text: 'not available' }), ' ',
      el('span', { class: 'muted', text: 'Sentinel is not registered in this build.' }));
    return;
  }
  const pauses = s.strategy?.pauses || {};
  box.replaceChildren(
    el('span', { class: `pill big ${s.running ? 'ok' : 'warn'}`, text: s.running ? '▶ RUNNING' : '⏸ PAUSED' }), ' ',
    el('span', { class: `pill ${s.trading ? 'ok' : 'warn'}`, text: s.trading ? 'TRADING' : 'NOT TRADING' }), ' ',
    el('span', { class: 'muted', text: [s.running ? '' : `reason: ${Object.entries(pauses).map(([k, r]) => `${k} (${r})`).join(', ') || '—'}`, s.trading ? '' : s.reason, `pairs of ${(s.symbols || []).join(', ')}`].filter(Boolean).join('; ') }));
  hunterRows('#sentinel-pairs', 8, (s.pairs || []).map((p) => el('tr', {},
    el('td', { text: p.symbol }), el('td', { class: 'num', text: plain(p.basis) }),
    el('td', { class: 'num', text: plain(p.z) }), el('td', { class: 'num', text: plain(p.funding) }),
    el('td', { text: p.legs ? `spot ${plain(p.legs.spot)} / perp ${plain(p.legs.perp)}` : '—' }),
    el('td', { class: 'num', text: plain(p.delta) }), el('td', { class: 'num', text: plain(p.marginUse) }),
    el('td', { class: `num ${signClass(p.carryEarned)}`, text: plain(p.carryEarned) }))),
  'No pair open.');
  hunterRows('#sentinel-spot', 4, (s.spot?.holdings || []).map((h) => el('tr', {},
    el('td', { text: h.coin }), el('td', { class: 'num', text: plain(h.qty) }),
    el('td', { class: 'num', text: plain(h.cost) }), el('td', { text: h.strategy }))),
  s.spot?.available ? 'Titan holds no spot coin.' : 'This venue has no spot leg.');
}

// Each strategy's realised PnL from the trade journal (GET /api/performance by_strategy).
async function loadPerformance() {
  try {
    state.performance = await api('GET', '/api/performance');
    renderStrategies();
  } catch { /* the table shows — until it can be read */ }
}

function renderStrategies() {
  const list = state.status?.strategyList || [];
  const perf = state.performance?.by_strategy || {};
  const pnl = (v) => el('td', { class: `num ${signClass(v)}`, text: v === undefined || v === null ? '—' : money(v) });
  $('#strategies').replaceChildren(...(list.length ? list.map((st) => {
    const pauses = Object.entries(st.pauses || {});
    const c = st.counters || {};
    const cell = (v) => el('td', { class: 'num', text: v === undefined || v === null ? '—' : String(v) });
    return el('tr', { 'data-strategy': st.name },
      el('td', {}, el('strong', { text: st.name }), el('div', { class: 'muted', text: st.description || '' })),
      el('td', {}, el('span', { class: `pill ${st.enabled ? 'ok' : 'bad'}`, text: st.enabled ? 'ENABLED' : 'DISABLED' })),
      el('td', {}, el('span', { class: `pill ${st.running ? 'ok' : 'warn'}`, text: st.running ? '▶ RUNNING' : '⏸ PAUSED' }),
        ...pauses.map(([src, why]) => el('div', { class: 'muted', text: `${src}: ${why}` }))),
      el('td', { text: (st.phases || []).join(', ') || '—' }),
      cell(c.sprung), cell(c.sent), cell(c.denied),
      pnl(perf[st.name]?.today?.realised_pnl), pnl(perf[st.name]?.all_time?.realised_pnl),
      el('td', {}, el('button', { type: 'button', class: `btn small ${st.enabled ? 'btn-danger' : ''}`, 'data-switch': st.name,
        onclick: (ev) => switchStrategy(st, ev.currentTarget) }, st.enabled ? 'Disable' : 'Enable')));
  }) : [el('tr', {}, el('td', { colspan: 10, class: 'muted', text: 'No strategy reported yet.' }))]));
}

async function switchStrategy(st, btn) {
  const enable = !st.enabled;
  const reason = await ask({
    title: `${enable ? 'Enable' : 'Disable'} ${st.name}?`,
    message: enable ? `${st.name} may trade again (with the Master Arm ARMED, in its phases).`
      : `${st.name} stops trading and its working entries are cancelled. Its open positions stay: flatten them with FLATTEN ALL if you want them closed.`,
    confirmText: enable ? 'ENABLE' : 'DISABLE', danger: !enable,
    input: { label: 'Reason (required, audited)', required: true, placeholder: enable ? 'e.g. news passed' : 'e.g. news at 14:00' },
  });
  if (reason === null) { toast('ok', `${st.name}: nothing changed`); return; }
  try {
    await act(btn, `${enable ? 'ENABLE' : 'DISABLE'} ${st.name}`, () => api('POST', `/api/strategies/${encodeURIComponent(st.name)}`, { enabled: enable, reason }),
      (r) => ({ ok: true, text: r.changed ? `${st.name} ${enable ? 'enabled' : 'disabled'} (config version ${r.version_tag})` : `already ${enable ? 'enabled' : 'disabled'}, nothing changed` }));
  } catch { /* toast shown */ }
}

function renderOrders() {
  const orders = state.status?.openOrders || [];
  $('#orders').replaceChildren(...(orders.length ? orders.map((o) => el('tr', {},
    el('td', { text: o.symbol }), el('td', { text: o.side || '—' }), el('td', { text: o.orderType || o.type || '—' }),
    el('td', { class: 'num', text: plain(o.qty ?? o.quantity) }), el('td', { class: 'num', text: plain(o.price) }),
    el('td', { text: o.status || '—' }), el('td', { text: o.clientOrderId || o.client_order_id || o.orderLinkId || '—' })))
    : [el('tr', {}, el('td', { colspan: 7, class: 'muted', text: 'No open orders.' }))]));
}

// ---------------------------------------------------------------------------- positions

function renderPositions() {
  const view = state.positions;
  const body = $('#positions');
  if (!view) return;
  setText('positions-error', view.venueError ? `⚠ ${view.venueError} — venue side unknown, mismatches cannot be judged` : '');
  const rows = view.positions || [];
  const side = (p) => (p ? [p.side, plain(p.size), plain(p.entryPrice), money(p.unrealisedPnl, { sign: true })] : ['—', '—', '—', '—']);
  body.replaceChildren(...(rows.length ? rows.map((r) => {
    const bad = r.mismatch || r.orphaned;
    const check = r.mismatch ? el('span', { class: 'tag bad', text: `⚠ ${r.mismatch.replaceAll('_', ' ')}` })
      : r.orphaned ? el('span', { class: 'tag warn', text: '⚠ ORPHAN' })
        : view.venueError ? el('span', { class: 'tag warn', text: '? venue unknown' })
          : el('span', { class: 'tag ok', text: '✓ match' });
    const cells = [...side(r.shadow), ...side(r.venue)];
    return el('tr', { class: bad ? (r.mismatch ? 'row-bad' : 'row-warn') : '', 'data-symbol': r.symbol },
      el('td', {}, el('strong', { text: r.symbol })),
      ...cells.map((c, i) => el('td', { class: i % 4 === 0 ? '' : 'num', text: c })),
      el('td', {}, check, r.orphaned && r.mismatch ? el('span', { class: 'tag warn', text: ' ORPHAN' }) : null));
  }) : [el('tr', {}, el('td', { colspan: 10, class: 'muted', text: 'Flat: no positions in Titan or on the venue.' }))]));
  setText('positions-updated', `Read ${new Date().toISOString().slice(11, 19)} UTC`);
  if (view.lastReconciliation && !state.reportShown) renderReport(view.lastReconciliation, false);
}

let positionsInFlight = null;
async function loadPositions() {
  if (positionsInFlight) return positionsInFlight;
  positionsInFlight = (async () => {
    try {
      state.positions = await api('GET', '/api/state/positions');
      renderPositions();
    } catch (e) {
      setText('positions-error', `Could not read positions: ${errorText(e)}`);
    } finally { positionsInFlight = null; }
  })();
  return positionsInFlight;
}

function renderReport(rep, fresh) {
  const box = $('#reconcile-report');
  box.classList.remove('muted');
  const mm = rep.mismatches || [];
  const head = rep.clean ? el('span', { class: 'ok', text: '✓ CLEAN' })
    : rep.ok ? el('span', { class: 'bad', text: `⚠ ${mm.length} MISMATCH(ES)` })
      : el('span', { class: 'bad', text: `✗ FAILED: ${rep.error || 'unknown error'}` });
  const lines = [
    `${fresh ? 'Just now' : 'Last run'}: ${fmtTime(rep.ts)} UTC · trigger: ${rep.trigger || '—'}`,
    ...mm.map((m) => `• ${m.type} ${m.symbol || ''}: ${m.detail || ''}`),
    ...(rep.actions || []).map((a) => `→ action: ${typeof a === 'string' ? a : JSON.stringify(a)}`),
    ...(rep.unknownOrders || []).map((o) => `? unknown order: ${JSON.stringify(o)}`),
    rep.consecutiveMismatchRuns ? `consecutive runs with mismatches: ${rep.consecutiveMismatchRuns}` : '',
  ].filter(Boolean);
  box.replaceChildren(head, el('div', { id: 'reconcile-lines', text: lines.join('\n') }));
}

async function reconcileNow(btn) {
  try {
    const rep = await act(btn, 'Reconcile', () => api('POST', '/api/state/reconcile'), (r) => ({
      ok: r.ok !== false,
      text: r.clean ? 'clean — Titan matches the venue' : r.ok ? `${(r.mismatches || []).length} mismatch(es) found and handled; see the report` : `failed: ${r.error}`,
    }));
    state.reportShown = true;
    renderReport(rep, true);
  } catch (e) {
    if (e instanceof ApiError && e.status === 503 && e.details) renderReport(e.details, true);
    else $('#reconcile-report').textContent = `Reconcile failed: ${errorText(e)}`;
  }
  loadPositions();
}

// ---------------------------------------------------------------------------- settings

const FIELD_LABELS = {
  maxRiskPerTrade: ['Max risk per trade', 'fraction', 'of equity'],
  maxDailyDrawdown: ['Max daily drawdown', 'fraction', 'breaker trips beyond it'],
  maxLeverage: ['Max leverage', 'x', ''],
  maxPositionNotional: ['Max position notional', 'usd', 'USDT'],
  maxOpenOrdersPerSymbol: ['Max open orders per symbol', 'int', ''],
  maxStalenessMs: ['Max data staleness', 'ms', 'milliseconds'],
  consecutiveLossLimit: ['Consecutive loss limit', 'int', 'losing trades in a row'],
  volatilityMovePct: ['Volatility move', 'pctnum', '% within the window'],
  volatilityWindowS: ['Volatility window', 's', 'seconds'],
  cooldownHours: ['Breaker cooldown', 'h', 'hours'],
};

function rangeText(name, r) {
  if (!r) return '';
  const kind = FIELD_LABELS[name]?.[1];
  const f = (v) => (kind === 'fraction' ? `${v} (${+(v * 100).toFixed(2)}%)` : kind === 'x' ? `${v}×` : String(v));
  const lo = r.minimum ?? (r.exclusiveMinimum !== undefined && r.exclusiveMinimum !== null ? `>${r.exclusiveMinimum}` : null);
  const hi = r.maximum;
  if (lo !== null && lo !== undefined && hi !== null && hi !== undefined) return `allowed ${typeof lo === 'number' ? f(lo) : lo} – ${f(hi)}`;
  if (lo !== null && lo !== undefined) return `allowed ${typeof lo === 'number' ? `≥ ${f(lo)}` : lo}`;
  if (hi !== null && hi !== undefined) return `allowed ≤ ${f(hi)}`;
  return '';
}

function renderSettings() {
  const cfg = state.config;
  if (!cfg) return;
  setText('cfg-version', cfg.version_tag || '—');
  const values = cfg.config || {};
  const ranges = cfg.ranges || {};
  const names = Object.keys(values).filter((k) => k !== 'whitelist');
  // Values the operator typed and has not saved survive a re-render (a config version
  // made elsewhere, or a reload that was already on its way, must not wipe them).
  const edits = Object.fromEntries($$('#risk-fields input').filter((i) => i.value !== i.dataset.original).map((i) => [i.name, i.value]));
  const fields = $('#risk-fields');
  fields.replaceChildren(...names.map((name) => {
    const [label, , unit] = FIELD_LABELS[name] || [name, '', ''];
    const r = ranges[name];
    const id = `f-${name}`;
    const input = el('input', { id, name, type: 'number', step: 'any', inputmode: 'decimal', value: String(values[name]), 'data-original': String(values[name]), 'aria-describedby': `${id}-range ${id}-err` });
    if (r && r.minimum !== undefined && r.minimum !== null) input.min = r.minimum;
    if (r && r.maximum !== undefined && r.maximum !== null) input.max = r.maximum;
    return el('div', { class: 'field', 'data-field': name },
      el('label', { for: id, text: `${label}${unit ? ` (${unit})` : ''}` }), input,
      el('span', { class: 'range', id: `${id}-range`, text: `${rangeText(name, r)} · key ${name}` }),
      el('span', { class: 'error-text', id: `${id}-err`, role: 'alert' }));
  }));
  for (const [name, v] of Object.entries(edits)) { const i = $(`#f-${CSS.escape(name)}`); if (i) i.value = v; }
  const wl = values.whitelist || [];
  $('#whitelist').replaceChildren(...(wl.length ? wl.map((sym) => el('li', { 'data-symbol': sym }, sym,
    el('button', { type: 'button', class: 'btn small', 'aria-label': `Remove ${sym} from the whitelist`, onclick: (ev) => whitelist('remove', sym, ev.currentTarget) }, 'Remove')))
    : [el('li', { class: 'muted', text: 'Whitelist is empty: no symbol may be traded.' })]));
  $('#wl-known').replaceChildren(...(cfg.known_symbols || []).filter((s) => !wl.includes(s)).map((s) => el('option', { value: s })));
}

function clearFieldErrors() {
  for (const f of $$('#risk-fields .field')) { f.classList.remove('has-error'); $('.error-text', f).textContent = ''; }
  setText('risk-form-error', '');
}

function showFieldErrors(e) {
  const details = Array.isArray(e.details) ? e.details : [];
  let placed = 0;
  const unplaced = [];
  for (const d of details) {
    const key = String(d.field || '').split('.').pop().replace(/^alias_/, '');
    const box = $(`#risk-fields .field[data-field="${CSS.escape(key)}"]`);
    if (box) {
      box.classList.add('has-error');
      $('.error-text', box).textContent = `✗ ${d.message}`;
      placed += 1;
    } else unplaced.push(`${d.field}: ${d.message}`);
  }
  setText('risk-form-error', `Not saved — nothing changed. ${e.message}${unplaced.length ? ` (${unplaced.join('; ')})` : ''}`);
  const first = $('#risk-fields .field.has-error input');
  if (first) first.focus();
  return placed;
}

async function saveRisk(ev) {
  ev.preventDefault();
  clearFieldErrors();
  const changes = {};
  const bad = [];
  for (const input of $$('#risk-fields input')) {
    if (input.value.trim() === input.dataset.original) continue;
    const v = Number(input.value);
    if (input.value.trim() === '' || !Number.isFinite(v)) { bad.push(input.name); continue; }
    changes[input.name] = v;
  }
  if (bad.length) {
    for (const name of bad) {
      const box = $(`#risk-fields .field[data-field="${name}"]`);
      box.classList.add('has-error');
      $('.error-text', box).textContent = '✗ enter a number';
    }
    setText('risk-form-error', 'Not saved — fix the marked fields.');
    return;
  }
  if (!Object.keys(changes).length) { toast('ok', 'Risk parameters: nothing changed, nothing saved'); return; }
  const reason = $('#risk-reason').value.trim();
  const btn = $('#risk-form button[type=submit]');
  try {
    await act(btn, 'Save risk parameters', () => api('POST', '/api/console/config/risk', reason ? { ...changes, reason } : changes),
      (r) => ({ ok: true, text: r.changed === false ? 'no change (values already active)' : `saved as version ${r.version_tag}: ${Object.entries(r.changes || changes).map(([k, c]) => `${k} ${c && typeof c === 'object' && 'from' in c ? `${c.from} → ${c.to}` : c}`).join(', ')}` }));
    $('#risk-reason').value = '';
  } catch (e) {
    if (e instanceof ApiError && e.status === 422) {
      // Refused, nothing changed on the server: keep the operator's values and the marks
      // next to the fields (re-rendering the form from the server would wipe both).
      showFieldErrors(e);
      return;
    }
    setText('risk-form-error', `Not saved: ${errorText(e)}`);
  }
  await loadSettings();
}

async function whitelist(action, symbol, btn) {
  setText('wl-error', '');
  symbol = (symbol || '').trim().toUpperCase();
  if (!symbol) { setText('wl-error', 'Type a symbol such as SOLUSDT.'); return; }
  if (action === 'remove') {
    const ok = await ask({ title: `Remove ${symbol}?`, message: `Titan will stop opening new positions in ${symbol}. Open positions are not closed.`, confirmText: `Remove ${symbol}`, danger: true });
    if (ok === null) { toast('ok', `Whitelist: removing ${symbol} cancelled, nothing changed`); return; }
  }
  try {
    await act(btn, `Whitelist ${action} ${symbol}`, () => api('POST', '/api/console/config/whitelist', { action, symbol }),
      (r) => ({ ok: true, text: r.changed === false ? 'no change' : `done, version ${r.version_tag}; whitelist: ${(r.config?.whitelist || []).join(', ')}` }));
    if (action === 'add') $('#wl-symbol').value = '';
  } catch (e) {
    const d = Array.isArray(e.details) ? e.details.map((x) => x.message).join('; ') : '';
    setText('wl-error', `✗ ${d || errorText(e)}`);
  }
  await loadSettings();
}

function renderVersions(page) {
  const items = page?.items || [];
  const active = page?.active_version_tag || state.config?.version_tag;
  $('#versions').replaceChildren(...(items.length ? items.map((v) => el('tr', { 'data-version': v.version_tag, class: v.version_tag === active ? 'active' : '' },
    el('td', {}, el('strong', { text: v.version_tag }), v.version_tag === active ? el('span', { class: 'tag ok', text: ' ACTIVE' }) : null),
    el('td', { text: v.actor || '—' }), el('td', { text: v.source || '—' }), el('td', { text: v.reason || '' }),
    el('td', { text: v.rolled_back_from || '' }),
    el('td', {}, v.version_tag === active ? '' : el('button', { type: 'button', class: 'btn small', 'aria-label': `Roll back to ${v.version_tag}`, onclick: (ev) => rollback(v.version_tag, ev.currentTarget) }, 'Roll back'))))
    : [el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'No versions.' }))]));
}

async function rollback(tag, btn) {
  const reason = await ask({ title: `Roll back to ${tag}?`, message: 'This makes a NEW active version with the values of that one. It takes effect immediately.', confirmText: 'Roll back', input: { label: 'Reason (optional)' } });
  if (reason === null) { toast('ok', 'Rollback cancelled, nothing changed'); return; }
  try {
    await act(btn, `Rollback to ${tag}`, () => api('POST', '/api/config/rollback', reason ? { version_tag: tag, reason } : { version_tag: tag }),
      (r) => ({ ok: true, text: `new active version ${r.version_tag} (rolled back from ${r.rolled_back_from || tag})` }));
  } catch { /* toast shown */ }
  await loadSettings();
}

// A new config version while the operator is typing: keep the edits, say what arrived.
function configChanged(m) {
  const edited = $$('#risk-fields input').some((i) => i.value !== i.dataset.original);
  if (!edited) { loadSettings(); return; }
  const note = $('#settings-changed');
  note.hidden = false;
  note.textContent = `${m.message || 'A new config version was made'} — your edits below are kept and not yet saved; reload the tab to see the new values.`;
}

async function loadSettings() {
  try {
    state.config = await api('GET', '/api/console/config');
    state.configMissing = false;
    if (!$$('#risk-fields input').some((i) => i.value !== i.dataset.original)) $('#settings-changed').hidden = true;
    $('#settings-unavailable').hidden = true;
    renderSettings();
  } catch (e) {
    const box = $('#settings-unavailable');
    box.hidden = false;
    box.textContent = e.status === 404
      ? 'Configuration endpoints are not available in this build of Titan (GET /api/console/config answered 404). Risk parameters cannot be viewed or changed here yet.'
      : `Could not read the configuration: ${errorText(e)}`;
    $('#risk-fields').replaceChildren(el('p', { class: 'muted', text: 'Unavailable.' }));
    state.configMissing = true;
  }
  try {
    renderVersions(await api('GET', '/api/config/versions'));
  } catch (e) {
    $('#versions').replaceChildren(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: `Versions unavailable: ${errorText(e)}` })));
  }
}

async function loadAudit() {
  try {
    const page = await api('GET', '/api/audit?limit=30');
    const items = page?.items || [];
    $('#audit').replaceChildren(...(items.length ? items.map((a) => el('tr', {},
      el('td', { text: fmtTime(a.ts) }), el('td', { text: `${a.actor || ''}${a.source ? ` (${a.source})` : ''}` }),
      el('td', { text: a.action }), el('td', {}, el('span', { class: `tag ${a.success ? 'ok' : 'bad'}`, text: a.success ? 'OK' : 'REFUSED' }))))
      : [el('tr', {}, el('td', { colspan: 4, class: 'muted', text: 'No operator actions recorded.' }))]));
  } catch (e) {
    $('#audit').replaceChildren(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: `Audit log unavailable: ${errorText(e)}` })));
  }
}

// ---------------------------------------------------------------------------- actions

async function armOrDisarm(armed, btn) {
  const reason = await ask({
    title: armed ? 'ARM the system?' : 'DISARM the system?',
    message: armed ? 'Titan may open NEW positions once armed (within the risk limits).' : 'No new entries after this. Open positions and their stops stay.',
    confirmText: armed ? 'ARM SYSTEM' : 'DISARM', danger: armed,
    input: { label: 'Reason (optional)', placeholder: armed ? 'e.g. morning checks done' : 'e.g. volatility' },
  });
  if (reason === null) { toast('ok', `${armed ? 'ARM' : 'DISARM'} cancelled, nothing changed`); return; }
  try {
    await act(btn, armed ? 'ARM' : 'DISARM', () => api('POST', '/api/console/arm', reason ? { armed, reason } : { armed }),
      (r) => ({ ok: r.success !== false, text: `Master Arm is now ${r.masterArm || (r.armed ? 'ARMED' : 'DISARMED')}${r.reason ? ` (${r.reason})` : ''}` }));
  } catch { /* toast shown */ }
}

function describeFlatten(r) {
  const res = r.results || [];
  const failed = res.filter((x) => !x.success);
  if (r.success) return { ok: true, text: `done — ${r.positions_closed ?? res.length} position(s) closed${res.length ? ` (${res.map((x) => x.symbol).join(', ')})` : ''}; venue verified flat; Master Arm DISARMED` };
  return { ok: false, text: `NOT complete — ${r.error || ''}${failed.map((x) => `${x.symbol}: ${x.error}`).join('; ')} — positions may still be open, check the Positions tab` };
}

async function emergency(action, btn) {
  if (action === 'flatten') {
    const ok = await ask({ title: '⚠ FLATTEN ALL', message: 'Are you sure? This will close ALL positions.', confirmText: 'Yes, close ALL positions', danger: true });
    if (ok === null) { toast('ok', 'FLATTEN ALL cancelled — nothing was sent'); return; }
    try { await act(btn, 'FLATTEN ALL', () => api('POST', '/api/emergency/flatten'), describeFlatten); } catch { /* toast shown */ }
    loadPositions();
  } else if (action === 'cancel-all') {
    const ok = await ask({ title: '🛑 CANCEL ALL', message: 'Are you sure? This will cancel ALL open Titan orders on every symbol. Positions stay open.', confirmText: 'Yes, cancel ALL orders', danger: true });
    if (ok === null) { toast('ok', 'CANCEL ALL cancelled — nothing was sent'); return; }
    try {
      await act(btn, 'CANCEL ALL', () => api('POST', '/api/console/cancel-all'), (r) => ({
        ok: r.success !== false,
        text: r.success !== false ? `${(r.cancelled || []).length} order(s) cancelled` : `NOT complete — ${r.error || ''} ${(r.failed || []).map((f) => JSON.stringify(f)).join('; ')}`,
      }));
    } catch { /* toast shown */ }
  } else if (action === 'kill') {
    const code = await ask({ title: '🔒 KILL SWITCH', message: 'HARD_HALT: flattens ALL positions, cancels ALL orders, disables Master Arm and pauses the Scavenger. Type the kill-switch confirmation code to proceed.', confirmText: 'KILL', danger: true, input: { label: 'Confirmation code', required: true, type: 'password', inputMode: 'numeric' } });
    if (code === null) { toast('ok', 'KILL SWITCH cancelled — nothing was sent'); return; }
    try {
      await act(btn, 'KILL SWITCH', () => api('POST', '/api/emergency/kill', { code }), (r) => ({
        ok: r.success !== false,
        text: r.flat ? `HARD_HALT, DISARMED; account verified flat` : `HARD_HALT, DISARMED; NOT verified flat: ${r.verifyError || JSON.stringify(r.remaining)}`,
      }));
    } catch { /* toast shown */ }
    loadPositions();
  }
}

async function setHalt(target, btn) {
  const msgs = {
    OPEN: 'Resume normal operation. New entries become possible again (if armed). OPEN does not re-arm.',
    SOFT_HALT: 'No new entries (reduce-only). Pending entry orders are cancelled; exits keep being managed.',
    HARD_HALT: 'Cancels ALL orders, flattens ALL positions, DISARMS and pauses the Scavenger.',
  };
  const reason = await ask({ title: `Set ${target}?`, message: msgs[target], confirmText: target.replace('_', ' '), danger: target !== 'OPEN', input: { label: 'Reason (required)', required: true } });
  if (reason === null) { toast('ok', `${target} cancelled — nothing was sent`); return; }
  try {
    await act(btn, `Halt → ${target}`, () => api('POST', '/api/system/halt', { state: target, reason }),
      (r) => ({ ok: r.success !== false, text: `halt state is now ${r.haltState}; Master Arm ${r.masterArm}` }));
  } catch { /* toast shown */ }
}

async function resetBreaker(btn) {
  const reason = await ask({ title: 'Reset the circuit breaker?', message: 'Clears the breaker now. The system stays DISARMED until you re-arm.', confirmText: 'Reset', input: { label: 'Reason (required)', required: true, placeholder: 'Manual reset after review' } });
  if (reason === null) { toast('ok', 'Breaker reset cancelled — nothing was sent'); return; }
  try {
    await act(btn, 'Circuit breaker reset', () => api('POST', '/api/circuit-breaker/reset', { reason }),
      (r) => ({ ok: true, text: r.wasTripped ? 'breaker cleared; still DISARMED' : 'breaker was not tripped; nothing to clear' }));
  } catch { /* toast shown */ }
}

// ---------------------------------------------------------------------------- live connection

const conn = {
  ws: null, state: 'reconnecting', failures: 0, timer: null, everConnected: false,
  RED_AFTER: 7,           // failed attempts in a row (≈30 s) before 🔴
  show(s, extra = '') {
    this.state = s;
    const n = $('#conn');
    n.className = `conn conn-${s}`;
    n.textContent = s === 'connected' ? '🟢 Connected' : s === 'reconnecting' ? `🟡 Reconnecting${extra}` : `🔴 Disconnected${extra}`;
    n.dataset.state = s;
    $('#conn-retry').hidden = s === 'connected';
    document.body.classList.toggle('stale', s !== 'connected');
    renderBanners();
  },
  connect() {
    clearTimeout(this.timer);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try { ws = new WebSocket(`${proto}//${location.host}/ws`); } catch { this.retry(); return; }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; this.failures = 0; this.everConnected = true; this.show('connected'); };
    ws.onmessage = (ev) => { try { onMessage(JSON.parse(ev.data)); } catch (e) { console.error('bad message', e); } };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!opened) this.failures += 1;
      this.retry();
    };
    ws.onerror = () => { /* onclose follows */ };
  },
  retry() {
    const delay = Math.min(8000, 500 * 2 ** Math.max(0, this.failures - 1)) * (0.85 + Math.random() * 0.3);
    const red = this.failures >= this.RED_AFTER;
    this.show(red ? 'disconnected' : 'reconnecting', red ? ` — retrying in ${Math.round(delay / 1000)}s` : '…');
    this.timer = setTimeout(() => this.connect(), delay);
  },
  retryNow() { this.failures = Math.min(this.failures, this.RED_AFTER - 1); if (this.ws) this.ws.close(); else this.connect(); },
};

let refreshTimer = null;
function refreshStatusSoon() {
  // The socket brings the new state within a second; if it is down, ask the API directly.
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    if (conn.state === 'connected') return;
    try { applyStatus(await api('GET', '/api/status')); } catch { /* shown by the indicator */ }
  }, 300);
}

function applyStatus(status, prices) {
  state.status = status;
  if (status.serverTime) state.serverOffsetMs = new Date(status.serverTime).getTime() - Date.now();
  if (prices) { state.prices = prices; charts.addPrices(prices, status.serverTime); updateSymbolSelect(); }
  charts.addEquity(status.serverTime, num(status.equity ?? status.wallet?.equity));
  renderStatus();
}

let positionsRefresh = null;
function positionsSoon() {
  clearTimeout(positionsRefresh);
  positionsRefresh = setTimeout(() => { if (state.tab === 'positions') loadPositions(); }, 400);
}

function onMessage(m) {
  state.lastMessageAt = Date.now();
  setText('last-update', `updated ${new Date().toISOString().slice(11, 19)} UTC`);
  if (m.type === 'snapshot') {
    state.alerts = (m.alerts || []).slice();
    renderAlerts();
    charts.setEquityCurve(m.equityCurve || []);
    if (m.positions) { state.positions = m.positions; renderPositions(); }
    applyStatus(m.status || {}, m.prices);
  } else if (m.type === 'status') {
    applyStatus(m.status || {}, m.prices);
  } else if (m.type === 'event') {
    if (m.severity) { state.alerts.push(m); if (state.alerts.length > 200) state.alerts.shift(); renderAlerts(); }
    if (m.event === 'TRAP_SPRUNG') { state.sprungEvents.push(m); renderScavenger(); }
    if (['ORDER_FILLED', 'RECONCILED', 'SHADOW_MISMATCH', 'TRADE_CLOSED'].includes(m.event)) positionsSoon();
    if (m.event === 'TRADE_CLOSED' && state.tab === 'phase1') loadPerformance();
    if (m.event === 'CONFIG_CHANGED' && state.tab === 'settings') configChanged(m);
  }
}

// ---------------------------------------------------------------------------- start

function wire() {
  setupTabs();
  $('#btn-arm').addEventListener('click', (ev) => armOrDisarm(true, ev.currentTarget));
  $('#btn-disarm').addEventListener('click', (ev) => armOrDisarm(false, ev.currentTarget));
  for (const b of $$('[data-action]')) b.addEventListener('click', (ev) => emergency(b.dataset.action, ev.currentTarget));
  for (const b of $$('[data-halt]')) b.addEventListener('click', (ev) => setHalt(b.dataset.halt, ev.currentTarget));
  $('#btn-breaker-reset').addEventListener('click', (ev) => resetBreaker(ev.currentTarget));
  $('#btn-reconcile').addEventListener('click', (ev) => reconcileNow(ev.currentTarget));
  $('#btn-positions-refresh').addEventListener('click', () => loadPositions());
  $('#btn-audit-refresh').addEventListener('click', () => loadAudit());
  $('#risk-form').addEventListener('submit', saveRisk);
  $('#risk-reset').addEventListener('click', () => { clearFieldErrors(); renderSettings(); });
  $('#wl-form').addEventListener('submit', (ev) => { ev.preventDefault(); whitelist('add', $('#wl-symbol').value, $('#wl-form button')); });
  $('#price-symbol').addEventListener('change', (ev) => { charts.showSymbol(ev.target.value); updateSymbolSelect(); });
  $('#conn-retry').addEventListener('click', () => conn.retryNow());
  // Banners count down (breaker cooldown) even when nothing arrives.
  setInterval(() => { if (state.status?.circuitBreaker?.tripped) renderBanners(); }, 1000);
  // Hunter's state is read while its tab is open (it changes at most every 5 s).
  setInterval(() => { if (state.tab === 'phase2') loadHunter(); }, 5000);
  setInterval(() => { if (state.tab === 'phase3') loadSentinel(); }, 5000);
}

async function main() {
  wire();
  showTab(location.hash.slice(1) || 'overview');
  renderScavenger();
  await charts.init();
  conn.connect();
  // for diagnosis from the browser's developer tools, and for quant.js (the briefing)
  window.titanConsole = { state, conn, api, ask, toast };
}

main();
