// The supervisor's live floor: a snapshot on connect, then batched queue:stats and agent:state diffs
// from the /supervisor namespace, applied in place. Any interaction id opens the read-only monitor.

import { io } from '/vendor/socket.io-client/dist/socket.io.esm.min.js';
import { api, clearAuth } from '../common/api.js';
import { clearError, h, showError } from '../console/dom.js';
import { openConsole } from '../console/shell.js';
import { AgentGrid } from './grid.js';
import { InteractionMonitor } from './monitor.js';
import { QueueTiles } from './tiles.js';
import { WaitingList } from './waiting.js';

/** Run fn at most once per `ms`, trailing; many triggers in a burst cost one call. */
function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      fn();
    }, wait);
  };
}

function start(session) {
  const errBox = document.getElementById('dash-error');
  const agentErr = document.getElementById('agent-error');
  const conn = document.getElementById('conn');
  const lastUpdate = document.getElementById('last-update');
  const tiles = new QueueTiles(document.getElementById('queues'));
  // the grid is declared below; the monitor only asks it for names once a row has been clicked
  const monitor = new InteractionMonitor({ agent: (id) => grid.agentName(id) });
  const waiting = new WaitingList(document.querySelector('#waiting tbody'),
    document.getElementById('waiting-empty'), document.getElementById('waiting-error'), monitor);

  const act = async (agent, body) => {
    try {
      await api(`/api/v1/agents/${encodeURIComponent(agent.id)}/state`, { method: 'POST', body });
      clearError(agentErr);
    } catch (err) {
      showError(agentErr, err);
    }
  };
  const grid = new AgentGrid(document.querySelector('#agents tbody'), {
    setState: (agent, state, idleCode) => act(agent, state === 'not_ready' ? { state, idle_code: idleCode } : { state }),
    logout: (agent) => act(agent, { state: 'logged_out' }),
    monitor: (id, button) => monitor.open(id, button),
    openersChanged: () => monitor.refreshOpeners(),
  });
  document.getElementById('agent-filter').addEventListener('input', (e) => grid.setFilter(e.target.value));

  api('/api/v1/idle-codes')
    .then((r) => grid.setIdleCodes(r.items || []))
    .catch((err) => showError(errBox, err));

  const stamp = () => {
    lastUpdate.textContent = `updated ${new Date().toLocaleTimeString()}`;
  };
  const applySnapshot = (snap) => {
    tiles.apply(snap.queues, { replace: true });
    grid.apply(snap.agents, { replace: true });
    waiting.setQueues(tiles.names());
    waiting.load();
    stamp();
    document.body.dataset.ready = 'true';
  };

  const socket = io('/supervisor', { auth: { token: session.token }, transports: ['websocket', 'polling'] });
  const setConn = (state, text) => {
    conn.dataset.state = state;
    conn.textContent = text;
  };
  const refetch = async () => {
    try {
      const r = await socket.timeout(5000).emitWithAck('snapshot', {});
      if (r && r.ok) applySnapshot(r);
      else if (r && r.error) showError(errBox, r.error);
    } catch (err) {
      showError(errBox, { code: 'timeout', message: `snapshot failed: ${err.message}` });
    }
  };
  // Load changes mean interactions came or went; agent:state diffs do not list them, so refetch
  // now and then (throttled, so a busy floor costs at most one snapshot per 3 s per supervisor).
  const refetchSoon = throttle(refetch, 3000);
  const reloadWaiting = throttle(() => waiting.load(), 1000);

  socket.on('connect', () => {
    setConn('connected', 'live');
    clearError(errBox);
  });
  socket.on('disconnect', (reason) => setConn('idle', `offline (${reason})`));
  socket.on('connect_error', (err) => {
    const code = err && err.data && err.data.code;
    setConn('error', 'connection error');
    showError(errBox, { code: code || 'connect_error', message: (err.data && err.data.message) || err.message });
    if (code === 'unauthorized') {
      clearAuth();
      setTimeout(() => location.reload(), 1500);
    }
  });
  socket.on('snapshot', applySnapshot);
  socket.on('queue:stats', (msg) => {
    tiles.apply(msg.queues || []);
    reloadWaiting();
    stamp();
  });
  socket.on('agent:state', (msg) => {
    const { unknown, loadChanged } = grid.patch(msg.agents || []);
    if (unknown.length || loadChanged) refetchSoon();
    stamp();
  });

  document.getElementById('refresh').addEventListener('click', refetch);
  document.getElementById('waiting-refresh').addEventListener('click', () => waiting.load());
  setInterval(() => {
    tiles.tick();
    grid.tick();
    waiting.tick();
    monitor.tick();
  }, 1000);
}

openConsole({
  current: '/supervisor',
  signInTitle: 'Supervisor sign-in',
  roles: ['supervisor', 'admin'],
  start,
  status: h('span', { id: 'conn', class: 'conn', role: 'status', 'aria-live': 'polite', 'data-state': 'idle' }, 'offline'),
});
