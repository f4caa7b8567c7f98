// The morning briefing on the Overview (AI Quant, SPEC §17): insights, proposals with their
// before/after equity curves on the hold-out window, approve / reject with confirmation.
// A module of its own beside console.js; it uses the console's api(), ask() and toast()
// (window.titanConsole) so errors, dialogs and the action log look the same.
import { el } from './console.js';  // the same module the page loads: one instance

const $ = (sel, root = document) => root.querySelector(sel);

const pct = (x) => (x === null || x === undefined ? '—' : `${(Number(x) * 100).toFixed(0)} %`);
const usdt = (x) => (x === null || x === undefined ? '—' : `${Number(x).toFixed(2)}`);
let tc = null;  // window.titanConsole once the console is up
let lib = null;  // lightweight-charts
let charts = [];
let timer = null;

async function consoleReady() {
  for (let i = 0; i < 200 && !window.titanConsole; i++) await new Promise((r) => setTimeout(r, 50));
  return window.titanConsole || null;
}

function curve(points) {
  const out = [];
  let last = -1;
  for (const [ms, v] of points || []) {
    const t = Math.floor(ms / 1000);
    if (t > last && Number.isFinite(v)) { out.push({ time: t, value: v }); last = t; }
  }
  return out;
}

function drawCurves(box, p) {
  if (!lib) { box.append(el('div', { class: 'muted', text: 'Charts unavailable (lightweight-charts not installed).' })); return; }
  const chart = lib.createChart(box, {
    autoSize: true,
    layout: { background: { color: '#141a22' }, textColor: '#c9d3de', fontSize: 12 },
    grid: { vertLines: { color: '#1f2833' }, horzLines: { color: '#1f2833' } },
    timeScale: { timeVisible: true, borderColor: '#2a3542' },
    rightPriceScale: { borderColor: '#2a3542' },
  });
  const before = chart.addSeries(lib.LineSeries, { color: '#8a96a3', lineWidth: 2, title: 'active' });
  const after = chart.addSeries(lib.LineSeries, { color: '#5aa9ff', lineWidth: 2, title: 'proposed' });
  before.setData(curve(p.active_figures.equity_curve));
  after.setData(curve(p.candidate_figures.equity_curve));
  chart.timeScale().fitContent();
  charts.push(chart);
}

function figuresTable(p) {
  const a = p.active_figures, c = p.candidate_figures;
  const row = (label, x, y) => el('tr', {}, el('td', { text: label }), el('td', { text: x }), el('td', { text: y }));
  return el('table', { class: 'table quant-figures' },
    el('thead', {}, el('tr', {}, el('th', { text: 'Hold-out' }), el('th', { text: 'Active' }), el('th', { text: 'Proposed' }))),
    el('tbody', {},
      row('Net PnL (USDT)', usdt(a.net_pnl), usdt(c.net_pnl)),
      row('Max drawdown (USDT)', usdt(a.max_drawdown), usdt(c.max_drawdown)),
      row('Trades', String(a.trades), String(c.trades)),
      row('Win rate', pct(a.win_rate), pct(c.win_rate))));
}

function changesText(p) {
  return Object.entries(p.changes).map(([n, ch]) => `${n}: ${ch.from} → ${ch.to}`).join(', ');
}

async function decide(p, approve) {
  if (approve) {
    const reason = await tc.ask({
      title: `Approve proposal #${p.id}?`,
      message: `This makes a NEW config version (${changesText(p)}). It takes effect immediately.`,
      confirmText: 'Approve', input: { label: 'Reason (optional)' },
    });
    if (reason === null) return;
    try {
      const out = await tc.api('POST', `/api/quant/proposals/${p.id}/approve`, { reason });
      tc.toast('ok', `Proposal #${p.id} approved: config version ${out.version_tag}`);
    } catch (e) { tc.toast('err', `Approve failed: ${e.message} [${e.code}]`); }
  } else {
    const reason = await tc.ask({
      title: `Reject proposal #${p.id}?`, message: 'It will not be proposed again for 30 days.',
      confirmText: 'Reject', danger: true, input: { label: 'Reason (required)', required: true },
    });
    if (reason === null) return;
    try {
      await tc.api('POST', `/api/quant/proposals/${p.id}/reject`, { reason });
      tc.toast('ok', `Proposal #${p.id} rejected`);
    } catch (e) { tc.toast('err', `Reject failed: ${e.message} [${e.code}]`); }
  }
  await load();
}

function proposalCard(p) {
  const status = p.stale ? 'stale: the config changed since it was made' : p.status;
  const card = el('div', { class: 'quant-proposal', 'data-proposal': String(p.id) },
    el('div', { class: 'panel-title-row' },
      el('span', { class: 'panel-title', text: `PROPOSAL #${p.id}` }),
      el('span', { class: `pill ${p.status === 'approved' ? 'ok' : p.status === 'rejected' ? 'bad' : 'warn'}`, text: status })),
    el('div', { class: 'quant-changes', text: `${p.strategy} · ${changesText(p)}` }),
    el('div', { class: 'muted small-text', text: `made against config ${p.config_version}; gate: ${p.evidence?.gate?.passed ? 'passed' : '—'}${p.reject_reason ? ` · rejected: ${p.reject_reason}` : ''}${p.applied_version ? ` · version ${p.applied_version}` : ''}` }),
    figuresTable(p));
  const box = el('div', { class: 'chart quant-chart' });
  card.append(box);
  if (p.status === 'pending' && !p.stale) {
    card.append(el('div', { class: 'quant-actions' },
      el('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'approve', onclick: () => decide(p, true), text: 'Approve' }),
      el('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'reject', onclick: () => decide(p, false), text: 'Reject' })));
  }
  return [card, box];
}

function render(b) {
  const y = b.yesterday || {};
  $('#quant-yesterday').textContent = `Yesterday (${y.day}): ${y.trades} trades, net ${usdt(y.net_pnl)} USDT, win rate ${pct(y.win_rate)}`;
  const run = b.run;
  $('#quant-run').textContent = run ? `Last run ${run.createdAt} (${run.trigger}): ${run.status}${run.progress?.phase ? ` · ${run.progress.phase} ${run.progress.trials_done ?? ''}/${run.progress.trials ?? ''}` : ''}` : 'AI Quant has not run yet.';
  $('#quant-notes').replaceChildren(...(b.notes || []).map((n) => el('li', { text: n })));
  const ins = b.insights?.insights || [];
  $('#quant-insights').replaceChildren(...(ins.length ? ins.map((i) => el('li', { 'data-kind': i.kind, text: `${i.message}` }))
    : [el('li', { class: 'muted', text: b.insights?.enough ? 'No weak bucket found.' : 'No insights.' })]));
  $('#quant-confidence').textContent = b.insights?.enough ? `confidence ${b.insights.confidence}` : '';
  for (const c of charts) c.remove();
  charts = [];
  const list = $('#quant-proposals');
  const shown = (b.proposals || []).slice(0, 5);
  list.replaceChildren();
  if (!shown.length) list.append(el('p', { class: 'muted', text: 'No proposal.' }));
  for (const p of shown) {
    const [card, box] = proposalCard(p);
    list.append(card);
    drawCurves(box, p);
  }
  $('#quant-pending').textContent = b.pending ? `${b.pending} pending` : '';
  clearTimeout(timer);
  timer = setTimeout(load, run && run.status === 'running' ? 2000 : 30000);
}

async function load() {
  if (!tc) return;
  try {
    render(await tc.api('GET', '/api/quant/briefing'));
  } catch (e) {
    $('#quant-run').textContent = `Briefing unavailable: ${e.message}`;
    clearTimeout(timer);
    timer = setTimeout(load, 30000);
  }
}

async function runNow() {
  try {
    const run = await tc.api('POST', '/api/quant/run', {});
    tc.toast('ok', `AI Quant run ${run.id}: ${run.status}${run.note ? ` — ${run.note}` : ''}`);
  } catch (e) { tc.toast('err', `AI Quant run refused: ${e.message} [${e.code}]`); }
  await load();
}

async function main() {
  tc = await consoleReady();
  if (!tc) return;
  try { lib = await import('/vendor/lightweight-charts.mjs'); } catch { lib = null; }
  $('#btn-quant-refresh').addEventListener('click', load);
  $('#btn-quant-run').addEventListener('click', runNow);
  await load();
}

main();
