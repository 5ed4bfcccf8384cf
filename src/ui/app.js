// The operator's page: fleet, placement preview and jobs of one region, over the /internal/* API.
// Every value from the API is inserted as text (textContent or text nodes), never as HTML: node
// labels, tenant ids and event details are attacker-controlled strings. Long lists are paged, so
// a 1,000-node region renders one page of rows per keystroke, not a thousand.
'use strict';

(() => {
  const KEY_SLOT = 'cp-admin-key';
  const PAGE_SIZE = 50;
  const body = document.body;
  const words = (name) => (body.dataset[name] || '').split(' ').filter(Boolean);
  const REGIONS = words('regions');
  const TIERS = words('planTiers');
  const JOB_STATUSES = words('jobStatuses');
  const ACTIVE_STATUSES = new Set(words('activeJobStatuses'));
  const $ = (id) => document.getElementById(id);

  const state = {
    region: REGIONS.includes(body.dataset.defaultRegion) ? body.dataset.defaultRegion : REGIONS[0],
    nodes: [],
    reserved: new Map(),
    fleetPage: 0,
    candidates: [],
    candidatesPage: 0,
    jobsCursor: null,
    job: null,
  };

  // ---- small helpers -------------------------------------------------------------------------

  /** An element with attributes and children; string children become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-')) node.setAttribute(k, String(v));
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? '' : String(c)));
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function say(text, kind) {
    const m = $('message');
    m.textContent = text || '';
    m.className = kind || 'error';
    show(m, Boolean(text));
  }

  function note(id, text) {
    $(id).textContent = text || '';
    show($(id), Boolean(text));
  }

  const num = (v, digits) => (v === null || v === undefined ? '—' : Number(v).toFixed(digits));

  function age(seconds) {
    if (seconds === null || seconds === undefined) return 'no metrics';
    if (seconds < 60) return `${seconds} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
    return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  }

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field;
    }
    describe() {
      return this.status ? `${this.status} ${this.code}: ${this.message}` : this.message;
    }
  }

  /** Calls the Worker with the stored key; answers the parsed JSON or throws an ApiError. */
  async function api(method, path, payload, key) {
    const headers = { authorization: `Bearer ${key || sessionStorage.getItem(KEY_SLOT) || ''}` };
    const init = { method, headers, credentials: 'omit', cache: 'no-store' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', `The Worker could not be reached (${e.message}).`);
    }
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      data = null;
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText || 'request failed', err.field);
    }
    return data;
  }

  /** A refused key sends the operator back to the key form with the Worker's answer shown. */
  function handle(e, where) {
    if (e instanceof ApiError && e.status === 401) {
      sessionStorage.removeItem(KEY_SLOT);
      show($('app'), false);
      show($('login'), true);
      show($('signout'), false);
      say(`The Worker refused the key: ${e.describe()}`, 'error');
      return;
    }
    say(`${where}: ${e instanceof ApiError ? e.describe() : e.message}`, 'error');
  }

  function pager(id, page, total, onStep) {
    const p = $(id);
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    p.querySelector('span').textContent = `page ${Math.min(page + 1, pages)} of ${pages} (${total} rows)`;
    const [prev, next] = p.querySelectorAll('button');
    prev.disabled = page <= 0;
    next.disabled = page + 1 >= pages;
    prev.onclick = () => onStep(-1);
    next.onclick = () => onStep(1);
  }

  // ---- fleet ---------------------------------------------------------------------------------

  /** Every node of the region: pages of 1,000 where the Worker pages, else the whole list. */
  async function loadNodes(region) {
    const out = [];
    let cursor = null;
    for (let i = 0; i < 100; i++) {
      const q = new URLSearchParams({ region, limit: '1000' });
      if (cursor) q.set('cursor', cursor);
      let data;
      try {
        data = await api('GET', `/internal/nodes?${q}`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 400 && e.field === 'limit') {
          return (await api('GET', `/internal/nodes?${new URLSearchParams({ region })}`)).nodes;
        }
        throw e;
      }
      out.push(...data.nodes);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    return out;
  }

  /** Reservations per node come from placement (the same count an enqueue uses). */
  async function loadCandidates(region, extra) {
    try {
      return await api('POST', '/internal/placement/compute', { region, candidates_limit: 1000, ...extra });
    } catch (e) {
      if (e instanceof ApiError && e.status === 400 && e.field === 'candidates_limit') {
        return api('POST', '/internal/placement/compute', { region, ...extra });
      }
      throw e;
    }
  }

  async function refreshFleet() {
    const region = state.region;
    const nodes = await loadNodes(region);
    let reserved = new Map();
    let fleetNote = '';
    try {
      const answer = await loadCandidates(region, {});
      reserved = new Map(answer.candidates.map((c) => [c.node_id, c]));
      if (answer.candidates_truncated) fleetNote = 'Reservations are shown for the first 1,000 candidates only.';
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw e;
      fleetNote = `Reservations unavailable: ${e instanceof ApiError ? e.describe() : e.message}`;
    }
    if (region !== state.region) return;
    state.nodes = nodes;
    state.reserved = reserved;
    state.fleetPage = 0;
    note('fleet-note', fleetNote);
    const stale = nodes.filter((n) => n.stale).length;
    const draining = nodes.filter((n) => n.status !== 'active').length;
    $('fleet-summary').textContent = `${nodes.length} nodes · ${stale} stale · ${draining} draining`;
    renderFleet();
    $('fleet-summary').dataset.region = region;
  }

  function fleetMatches() {
    const needle = $('fleet-filter').value.trim().toLowerCase();
    const staleOnly = $('fleet-stale-only').checked;
    return state.nodes.filter((n) => {
      if (staleOnly && !n.stale) return false;
      if (!needle) return true;
      if (n.node_id.toLowerCase().includes(needle)) return true;
      return Object.entries(n.labels || {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(needle));
    });
  }

  function renderFleet() {
    const rows = fleetMatches();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.fleetPage = Math.min(state.fleetPage, pages - 1);
    const tbody = $('fleet-table').tBodies[0];
    const page = rows.slice(state.fleetPage * PAGE_SIZE, (state.fleetPage + 1) * PAGE_SIZE);
    tbody.replaceChildren(
      ...page.map((n) => {
        const m = n.metrics || {};
        const c = state.reserved.get(n.node_id);
        const ageCell = el('td', { class: 'age' }, age(n.metrics_age_s));
        if (n.stale) ageCell.append(' ', el('span', { class: 'badge stale-badge' }, 'stale'));
        const labels = Object.entries(n.labels || {}).map(([k, v]) => el('span', { class: 'label' }, `${k}=${v}`));
        return el(
          'tr',
          { 'data-node-id': n.node_id, class: [n.stale ? 'stale' : '', n.status !== 'active' ? 'draining' : ''].join(' ').trim() },
          el('td', { class: 'node' }, n.node_id),
          el('td', {}, n.status),
          ageCell,
          el('td', { class: 'num' }, num(m.cpu_pct, 1)),
          el('td', { class: 'num' }, num(m.memory_pct, 1)),
          el('td', { class: 'num' }, num(m.disk_pct, 1)),
          el('td', { class: 'num' }, n.metrics ? String(m.tenant_count) : '—'),
          el('td', { class: 'num reserved' }, c ? String(c.reserved) : '—'),
          el('td', { class: 'labels' }, ...labels),
        );
      }),
    );
    if (rows.length === 0) tbody.append(el('tr', {}, el('td', { colSpan: 9, class: 'empty' }, 'No nodes match.')));
    pager('fleet-pager', state.fleetPage, rows.length, (step) => {
      state.fleetPage += step;
      renderFleet();
    });
  }

  // ---- placement preview ---------------------------------------------------------------------

  async function runPreview() {
    const request = { plan_tier: $('preview-tier').value, region: $('preview-region').value };
    const tenant = $('preview-tenant').value.trim();
    if (tenant) request.tenant_id = tenant;
    const answer = await loadCandidates(request.region, request);
    const p = answer.placement || {};
    $('preview-decision').textContent = answer.decision_reason;
    $('preview-node').textContent = answer.selected_node_id || (p.create_new_server ? (p.dedicated ? 'new dedicated stack' : 'new server') : '—');
    $('preview-hold').textContent = answer.hold ? `${answer.hold.code}: ${answer.hold.message}` : answer.hold === null ? 'none' : 'not reported by this Worker';
    $('preview-hold').className = answer.hold ? 'hold' : '';
    $('preview-stack').textContent = p.pulumi_stack || '—';
    const cl = answer.cluster || {};
    $('preview-cluster').textContent = `${cl.nodes} nodes · ${cl.eligible} eligible · ${cl.stale} stale · ${cl.no_metrics} without metrics · ${cl.draining} draining`;
    state.candidates = answer.candidates || [];
    state.candidatesPage = 0;
    renderCandidates(answer.candidates_truncated);
    show($('preview-result'), true);
  }

  function renderCandidates(truncated) {
    const tbody = $('candidates-table').tBodies[0];
    const start = state.candidatesPage * PAGE_SIZE;
    tbody.replaceChildren(
      ...state.candidates.slice(start, start + PAGE_SIZE).map((c, i) =>
        el(
          'tr',
          { 'data-node-id': c.node_id, class: c.eligible ? 'eligible' : 'refused' },
          el('td', { class: 'num' }, String(c.rank || start + i + 1)),
          el('td', { class: 'node' }, c.node_id),
          el('td', {}, c.eligible ? 'yes' : 'no'),
          el('td', { class: 'num' }, num(c.score, 3)),
          el('td', { class: 'num' }, num(c.memory_pct, 1)),
          el('td', { class: 'num' }, num(c.cpu_pct, 1)),
          el('td', { class: 'num' }, num(c.disk_pct, 1)),
          el('td', { class: 'num' }, `${c.tenant_count === null || c.tenant_count === undefined ? '—' : c.tenant_count} (${c.effective_tenants})`),
          el('td', { class: 'reasons' }, (c.reasons || []).join(', ')),
        ),
      ),
    );
    if (truncated) tbody.append(el('tr', {}, el('td', { colSpan: 9, class: 'empty' }, 'More candidates exist than this answer lists.')));
    pager('candidates-pager', state.candidatesPage, state.candidates.length, (step) => {
      state.candidatesPage += step;
      renderCandidates(truncated);
    });
  }

  // ---- jobs ----------------------------------------------------------------------------------

  async function refreshJobs(more) {
    const q = new URLSearchParams({ region: state.region, limit: '50' });
    if ($('jobs-status').value) q.set('status', $('jobs-status').value);
    if (more && state.jobsCursor) q.set('cursor', state.jobsCursor);
    const tbody = $('jobs-table').tBodies[0];
    let data;
    try {
      data = await api('GET', `/internal/provision-jobs?${q}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        tbody.replaceChildren();
        show($('jobs-more'), false);
        note('jobs-note', 'This Worker has no job list (GET /internal/provision-jobs answered 404). Open a job by its id below.');
        $('jobs-table').dataset.shown = `${state.region}/${$('jobs-status').value || 'all'}`;
        return;
      }
      throw e;
    }
    note('jobs-note', '');
    const rows = data.jobs.map((j) =>
      el(
        'tr',
        { 'data-job-id': j.job_id, class: `job status-${j.status}` },
        el('td', {}, j.created_at),
        el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => openJob(j.job_id).catch((e) => handle(e, 'Job')) }, j.job_id)),
        el('td', {}, j.tenant_id),
        el('td', { class: 'status' }, j.status),
        el('td', {}, j.target_server_id || (j.infra_mode === 'create_new_server' ? 'new server' : '—')),
        el('td', { class: 'num' }, String(j.attempts)),
        el('td', { class: 'error-text' }, j.last_error || ''),
      ),
    );
    if (more) tbody.append(...rows);
    else tbody.replaceChildren(...rows);
    if (!more && rows.length === 0) tbody.append(el('tr', {}, el('td', { colSpan: 7, class: 'empty' }, 'No jobs.')));
    state.jobsCursor = data.next_cursor || null;
    show($('jobs-more'), Boolean(state.jobsCursor));
    $('jobs-table').dataset.shown = `${state.region}/${$('jobs-status').value || 'all'}`;
  }

  async function openJob(jobId) {
    const job = await api('GET', `/internal/provision-jobs/${encodeURIComponent(jobId)}`);
    state.job = job;
    $('job-detail-id').textContent = job.job_id;
    const fields = [
      ['status', job.status],
      ['tenant', job.tenant_id],
      ['region', job.region],
      ['plan', job.plan_tier],
      ['target', job.target_server_id || job.infra_mode],
      ['stack', job.pulumi_stack],
      ['attempts', job.attempts],
      ['last error', job.last_error],
      ['created', job.created_at],
      ['dispatched', job.dispatched_at],
      ['started', job.started_at],
      ['completed', job.completed_at],
      ['cancelled', job.cancelled_at],
      ['workflow run', job.run_url || job.workflow_run_id],
      ['retry of', job.retry_of],
    ].filter(([, v]) => v !== undefined && v !== null && v !== '');
    $('job-fields').replaceChildren(...fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-field': k }, String(v))]));
    $('job-timeline').replaceChildren(
      ...(job.events || []).map((ev) =>
        el(
          'li',
          { class: 'event' },
          el('time', {}, ev.created_at),
          ' ',
          el('strong', { class: 'event-name' }, ev.event),
          ev.status ? el('span', { class: 'badge' }, ev.status) : '',
          ev.detail === null || ev.detail === undefined ? '' : el('pre', { class: 'detail' }, JSON.stringify(ev.detail, null, 1)),
        ),
      ),
    );
    $('job-cancel').disabled = !ACTIVE_STATUSES.has(job.status);
    $('job-retry').disabled = !(job.status === 'failed' || job.status === 'cancelled');
    show($('job-detail'), true);
  }

  async function jobAction(action) {
    const job = state.job;
    if (!job) return;
    note('job-action-message', '');
    try {
      const answer = await api('POST', `/internal/provision-jobs/${encodeURIComponent(job.job_id)}/${action}`, action === 'cancel' ? {} : undefined);
      const created = action === 'retry' && answer && answer.job_id;
      await openJob(created ? answer.job_id : job.job_id);
      await refreshJobs(false);
      note('job-action-message', created ? `Retry created job ${answer.job_id}.` : `Job ${job.job_id} is now ${answer.status}.`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw e;
      const missing = e instanceof ApiError && e.status === 404 && e.code === 'not_found' && /route/.test(e.message);
      note('job-action-message', missing ? `This Worker has no ${action} route yet.` : `${action} refused: ${e instanceof ApiError ? e.describe() : e.message}`);
    }
  }

  // ---- wiring --------------------------------------------------------------------------------

  function renderRegions() {
    $('regions').replaceChildren(
      ...REGIONS.map((r) => {
        const b = el('button', { type: 'button', 'data-region': r, class: r === state.region ? 'current' : '' }, r);
        b.onclick = () => selectRegion(r);
        return b;
      }),
    );
    $('fleet-region').textContent = state.region;
    $('jobs-region').textContent = state.region;
    $('preview-region').value = state.region;
  }

  async function selectRegion(region) {
    state.region = region;
    renderRegions();
    say('');
    await Promise.all([refreshFleet().catch((e) => handle(e, 'Fleet')), refreshJobs(false).catch((e) => handle(e, 'Jobs'))]);
  }

  async function open(key) {
    // The key is tried before it is kept: a wrong one is reported and never stored.
    await api('GET', `/internal/nodes?${new URLSearchParams({ region: state.region, stale: 'true' })}`, undefined, key);
    sessionStorage.setItem(KEY_SLOT, key);
    show($('login'), false);
    show($('app'), true);
    show($('signout'), true);
    say('');
    await selectRegion(state.region);
  }

  function fillSelect(select, values, selected) {
    select.append(...values.map((v) => el('option', { value: v, selected: v === selected }, v)));
  }

  function init() {
    fillSelect($('preview-tier'), TIERS, 'basic');
    fillSelect($('preview-region'), REGIONS, state.region);
    fillSelect($('jobs-status'), JOB_STATUSES, '');
    renderRegions();
    let debounce = null;
    $('fleet-filter').addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        state.fleetPage = 0;
        renderFleet();
      }, 150);
    });
    $('fleet-stale-only').addEventListener('change', () => {
      state.fleetPage = 0;
      renderFleet();
    });
    $('fleet-refresh').onclick = () => refreshFleet().catch((e) => handle(e, 'Fleet'));
    $('jobs-refresh').onclick = () => refreshJobs(false).catch((e) => handle(e, 'Jobs'));
    $('jobs-status').onchange = () => refreshJobs(false).catch((e) => handle(e, 'Jobs'));
    $('jobs-more').onclick = () => refreshJobs(true).catch((e) => handle(e, 'Jobs'));
    $('job-cancel').onclick = () => jobAction('cancel').catch((e) => handle(e, 'Cancel'));
    $('job-retry').onclick = () => jobAction('retry').catch((e) => handle(e, 'Retry'));
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = $('key').value.trim();
      $('key').value = '';
      open(key).catch((e) => handle(e, 'Sign in'));
    });
    $('signout').onclick = () => {
      sessionStorage.removeItem(KEY_SLOT);
      location.reload();
    };
    $('preview-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      runPreview().catch((e) => handle(e, 'Preview'));
    });
    $('job-open-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      openJob($('job-id').value.trim()).catch((e) => handle(e, 'Job'));
    });
    const stored = sessionStorage.getItem(KEY_SLOT);
    if (stored) open(stored).catch((e) => handle(e, 'Sign in'));
  }

  init();
})();
