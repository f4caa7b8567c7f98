// PM2: runs Titan as `titan-core` from the project's virtual environment (SPEC §11).
//
//   pm2 start ecosystem.config.js     # start (production: TITAN_DATA_DIR=/data)
//   pm2 restart titan-core            # graceful: SIGINT, wait, start again
//   pm2 stop titan-core               # graceful stop (SIGINT; SIGKILL only after kill_timeout)
//   pm2 logs titan-core --lines 100   # the event log (SYSTEM_STARTED, ORDER_FILLED, ...)
//
// Every TITAN_* variable of the environment `pm2 start` runs in reaches Titan; the
// defaults below apply only when it is not set (see docs/operations.md).
const fs = require("fs");
const path = require("path");

const root = __dirname;
const logDir = process.env.TITAN_PM2_LOG_DIR || path.join(root, "logs");
fs.mkdirSync(logDir, { recursive: true });

module.exports = {
  apps: [
    {
      name: "titan-core",
      cwd: root,
      script: path.join(process.env.TITAN_VENV || path.join(root, ".venv"), "bin", "titan"),
      args: "run",
      interpreter: "none",
      exec_mode: "fork",
      instances: 1, // one process, one SQLite writer: never cluster
      env: {
        TITAN_DATA_DIR: process.env.TITAN_DATA_DIR || "/data",
        TITAN_HOST: process.env.TITAN_HOST || "127.0.0.1",
        TITAN_PORT: process.env.TITAN_PORT || "8080",
        // Nginx on this host fronts Titan (nginx/titan.conf): believe its X-Real-IP, so
        // the lockout and the audit log see the real client. Set it to "" when nothing
        // proxies Titan; never to an address an untrusted client can connect from.
        TITAN_TRUSTED_PROXIES: process.env.TITAN_TRUSTED_PROXIES ?? "127.0.0.1",
        PYTHONUNBUFFERED: "1",
      },
      out_file: path.join(logDir, "titan-core-out.log"),
      error_file: path.join(logDir, "titan-core-error.log"),
      merge_logs: true,
      autorestart: true,
      max_restarts: 10,
      min_uptime: "10s", // a crash sooner than this counts towards max_restarts
      restart_delay: 2000,
      kill_signal: "SIGINT",
      kill_timeout: 20000, // graceful stop: finish in-flight orders, checkpoint the DB
      max_memory_restart: "500M",
      watch: false,
    },
  ],
};
