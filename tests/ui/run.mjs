// Drives the operator's page (/ui) of a running Worker in headless Debian chromium through
// playwright-core, one scenario per run, and prints what the page showed as one JSON object on
// stdout. The Rust suite tests/http/ui.rs seeds the Worker over HTTP, runs this, and asserts on
// the JSON; this file observes and never decides pass or fail.
//
// usage: node tests/ui/run.mjs BASE_URL SCENARIO ARGS_JSON SCREENSHOT_DIR

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, scenario, argsJson, shots] = process.argv.slice(2);
const args = JSON.parse(argsJson || '{}');
const WAIT = 30_000;

// The machine's network is closed: every feature that would phone out is off.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function signIn(page, key) {
  await page.goto(`${base}/ui`, { waitUntil: 'load', timeout: WAIT });
  await page.fill('#key', key);
  await page.click('#login-form button[type=submit]');
}

/** What the page holds besides its scenario's facts: the checks every scenario reports. */
async function common(page, observed) {
  return page.evaluate((o) => ({
    ...o,
    img_elements: document.querySelectorAll('img').length,
    xss_global: typeof window.__xss === 'undefined' ? null : String(window.__xss),
    stored_key: sessionStorage.getItem('cp-admin-key'),
    local_storage_keys: Object.keys(localStorage),
    message: document.getElementById('message').hidden ? null : document.getElementById('message').textContent,
  }), observed);
}

const scenarios = {
  /** Signs in and reads the fleet table of the region the page opens on. */
  async fleet(page) {
    await signIn(page, args.key);
    await page.waitForSelector('#fleet-summary[data-region]', { timeout: WAIT });
    if (args.region) await page.click(`#regions button[data-region="${args.region}"]`);
    await page.waitForSelector(`#fleet-summary[data-region="${args.region || (await page.getAttribute('body', 'data-default-region'))}"]`, { timeout: WAIT });
    if (args.filter !== undefined) {
      await page.fill('#fleet-filter', args.filter);
      await page.waitForFunction(
        (n) => document.querySelectorAll('#fleet-table tbody tr[data-node-id]').length === n,
        args.expect_rows_after_filter,
        { timeout: WAIT },
      ).catch(() => {});
    }
    return page.evaluate(() => ({
      current_region: document.querySelector('#regions button.current')?.textContent ?? null,
      title_region: document.getElementById('fleet-region').textContent,
      summary: document.getElementById('fleet-summary').textContent,
      pager: document.querySelector('#fleet-pager span').textContent,
      rows: [...document.querySelectorAll('#fleet-table tbody tr[data-node-id]')].map((tr) => ({
        node_id: tr.dataset.nodeId,
        stale: tr.classList.contains('stale'),
        stale_badge: tr.querySelector('.stale-badge')?.textContent ?? null,
        cells: [...tr.cells].map((td) => td.textContent),
        labels: [...tr.querySelectorAll('.label')].map((l) => l.textContent),
      })),
    }));
  },

  /** Runs a placement preview from the form. */
  async preview(page) {
    await signIn(page, args.key);
    await page.waitForSelector('#fleet-summary[data-region]', { timeout: WAIT });
    await page.selectOption('#preview-tier', args.tier);
    await page.selectOption('#preview-region', args.region);
    if (args.tenant) await page.fill('#preview-tenant', args.tenant);
    await page.click('#preview-form button[type=submit]');
    await page.waitForSelector('#preview-result:not([hidden])', { timeout: WAIT });
    return page.evaluate(() => ({
      decision: document.getElementById('preview-decision').textContent,
      node: document.getElementById('preview-node').textContent,
      hold: document.getElementById('preview-hold').textContent,
      stack: document.getElementById('preview-stack').textContent,
      cluster: document.getElementById('preview-cluster').textContent,
      candidates: [...document.querySelectorAll('#candidates-table tbody tr[data-node-id]')].map((tr) => ({
        node_id: tr.dataset.nodeId,
        eligible: tr.cells[2].textContent,
        reasons: tr.cells[8].textContent,
      })),
    }));
  },

  /** Opens one job by its id and reads its fields and timeline. */
  async job(page) {
    await signIn(page, args.key);
    await page.waitForSelector('#app:not([hidden])', { timeout: WAIT });
    await page.fill('#job-id', args.job_id);
    await page.click('#job-open-form button[type=submit]');
    await page.waitForSelector('#job-detail:not([hidden])', { timeout: WAIT });
    return readJob(page);
  },

  /** The jobs list of the region, filtered by a status when given. */
  async jobs(page) {
    await signIn(page, args.key);
    await page.waitForSelector('#app:not([hidden])', { timeout: WAIT });
    await page.waitForSelector('#jobs-table[data-shown]', { timeout: WAIT });
    if (args.status) {
      await page.selectOption('#jobs-status', args.status);
      const region = await page.getAttribute('body', 'data-default-region');
      await page.waitForSelector(`#jobs-table[data-shown="${region}/${args.status}"]`, { timeout: WAIT });
    }
    return page.evaluate(() => ({
      note: document.getElementById('jobs-note').hidden ? null : document.getElementById('jobs-note').textContent,
      rows: [...document.querySelectorAll('#jobs-table tbody tr[data-job-id]')].map((tr) => ({
        job_id: tr.dataset.jobId,
        status: tr.querySelector('.status').textContent,
      })),
    }));
  },

  /** Opens a job from the list, presses one of its action buttons, and waits for the change. */
  async action(page) {
    await signIn(page, args.key);
    await page.waitForSelector(`#jobs-table tr[data-job-id="${args.job_id}"] button`, { timeout: WAIT });
    await page.click(`#jobs-table tr[data-job-id="${args.job_id}"] button`);
    await page.waitForSelector('#job-detail:not([hidden])', { timeout: WAIT });
    const before = await readJob(page);
    await page.click(args.button === 'retry' ? '#job-retry' : '#job-cancel');
    await page.waitForSelector('#job-action-message:not([hidden])', { timeout: WAIT });
    const after = await readJob(page);
    const list = await page.evaluate(() =>
      [...document.querySelectorAll('#jobs-table tbody tr[data-job-id]')].map((tr) => ({ job_id: tr.dataset.jobId, status: tr.querySelector('.status').textContent })),
    );
    const message = await page.textContent('#job-action-message');
    return { before, after, list, action_message: message };
  },

  /** Asks for a job that does not exist. */
  async job_missing(page) {
    await signIn(page, args.key);
    await page.waitForSelector('#fleet-summary[data-region]', { timeout: WAIT });
    await page.fill('#job-id', args.job_id);
    await page.click('#job-open-form button[type=submit]');
    await page.waitForSelector('#message:not([hidden])', { timeout: WAIT });
    return { detail_visible: await page.isVisible('#job-detail') };
  },

  /** Signs in with a wrong key. */
  async wrong_key(page) {
    await signIn(page, args.key);
    await page.waitForSelector('#message:not([hidden])', { timeout: WAIT });
    return page.evaluate(() => ({
      login_visible: !document.getElementById('login').hidden,
      app_visible: !document.getElementById('app').hidden,
      body_text_length: document.body.innerText.trim().length,
    }));
  },
};

async function readJob(page) {
  return page.evaluate(() => ({
    job_id: document.getElementById('job-detail-id').textContent,
    fields: Object.fromEntries([...document.querySelectorAll('#job-fields dd')].map((dd) => [dd.dataset.field, dd.textContent])),
    events: [...document.querySelectorAll('#job-timeline li')].map((li) => ({
      event: li.querySelector('.event-name')?.textContent ?? null,
      status: li.querySelector('.badge')?.textContent ?? null,
      detail: li.querySelector('.detail')?.textContent ?? null,
    })),
    cancel_enabled: !document.getElementById('job-cancel').disabled,
    retry_enabled: !document.getElementById('job-retry').disabled,
  }));
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), 'cp-ui-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  const dialogs = [];
  const console_errors = [];
  const csp_violations = [];
  const foreign_requests = [];
  const page = context.pages()[0] || (await context.newPage());
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('console', (m) => {
    if (m.type() === 'error') console_errors.push(m.text());
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(base)) foreign_requests.push(r.url());
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  let result;
  try {
    const observed = await scenarios[scenario](page);
    const extra = await common(page, observed);
    extra.csp_violations = await page.evaluate(() => window.__csp || []);
    if (shots) {
      mkdirSync(shots, { recursive: true });
      extra.screenshot = join(shots, `${scenario}${args.shot_suffix || ''}.png`);
      await page.screenshot({ path: extra.screenshot, fullPage: false });
    }
    result = { ok: true, ...extra };
  } catch (e) {
    let snapshot = null;
    try {
      snapshot = await page.evaluate(() => document.body.innerText.slice(0, 2000));
    } catch (_) {}
    result = { ok: false, error: String(e && e.stack ? e.stack : e), page_text: snapshot };
  }
  result.dialogs = dialogs;
  result.console_errors = console_errors;
  result.foreign_requests = foreign_requests;
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e) })}\n`);
  process.exit(1);
});
