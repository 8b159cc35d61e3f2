// Drive a real JupyterLab notebook in headless Debian Chromium (npm playwright-core).
//
// stdin:  {"url": "http://127.0.0.1:PORT/?token=T", "notebook": "dir/nb.ipynb",
//          "steps": [{"op": ...}, ...], "screenshot_on_failure": "/path.png" | null,
//          "timeout_ms": 120000}
// stdout: ONE JSON line {"ok", "results", "error", "step", "op", "console", "dialogs",
//          "blocked", "screenshot"}; exit code 0 when ok, 1 otherwise.
//
// The notebook opens in a fresh workspace (/lab/workspaces/<random>/tree/<notebook>); the driver
// waits until its kernel is idle, then runs the steps in order. Selectors are Playwright
// selectors on the whole page (CSS, `text=`, `:has-text()`, ...); single-element ops act on the
// FIRST match. Per-step timeout: step.timeout_ms, default 30 s, never past the plan's deadline.
//
// Ops: run_all {allow_errors?}, wait {selector, state?}, click {selector}, fill {selector, text},
// press {selector, key}, select {selector, value}, check {selector}, text {selector, name},
// texts {selector, name}, count {selector, name}, attr {selector, attribute, name},
// html_contains {selector, text, name}, wait_text {selector, text}, eval {expression, name},
// screenshot {path, selector?}, save, reload {save?: true}, theme {theme} (a JupyterLab theme
// by name, e.g. "JupyterLab Dark"; waits until applied), axe {selector, name} (axe-core's
// WCAG 2 A/AA check of the matching elements: {violations, incomplete: each {id, impact,
// help, nodes}, passes: the ids of the rules that passed}),
// contrast {selector, name} (WCAG contrast of every text shown: {checked, min, failures}),
// viewport {width, height?}, ws_bytes {name, reset?} (bytes the page received over its
// websockets since the last reset: what the kernel sent),
// keys {keys, name?, within?} (each key pressed on whatever has the focus, keyboard only;
// after each, or once for no keys: where the focus is, see focusInPage), tab_until {selector, name?, key?, max?,
// within?} (press Tab, or `key`, until the focused element matches; every stop on the way),
// wait_focus {selector} (until the focused element matches), download {selector, name,
// key?} (click the element, or focus it and press `key`; the download that follows:
// {filename, size, sha256}). There is deliberately no sleep: wait on a condition instead.
//
// Requests to any other origin than the lab's are aborted (and listed under "blocked"): the
// tests run offline, and a widget that fetches from a CDN should fail loudly, not hang.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

import { createRequire } from 'node:module';

import { chromium } from 'playwright-core';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const CHROMIUM = process.env.SCQ_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];
const DEFAULT_STEP_TIMEOUT_MS = 30000;

class StepError extends Error {}

// op -> required keys. Checked for every step before the browser starts.
const OPS = {
  run_all: [],
  wait: ['selector'],
  click: ['selector'],
  fill: ['selector', 'text'],
  press: ['selector', 'key'],
  select: ['selector', 'value'],
  check: ['selector'],
  text: ['selector', 'name'],
  texts: ['selector', 'name'],
  count: ['selector', 'name'],
  attr: ['selector', 'attribute', 'name'],
  html_contains: ['selector', 'text', 'name'],
  wait_text: ['selector', 'text'],
  eval: ['expression'],
  screenshot: ['path'],
  save: [],
  reload: [],
  theme: ['theme'],
  axe: ['selector', 'name'],
  viewport: ['width'],
  ws_bytes: ['name'],
  contrast: ['selector', 'name'],
  keys: ['keys'],
  tab_until: ['selector'],
  wait_focus: ['selector'],
  download: ['selector', 'name'],
};

// Where the keyboard focus is: a short name of the focused element (its aria-label, else its
// text), whether it is inside `within` (a selector), and the notebook's active cell and cell
// count (a shortcut of the notebook moves or adds cells). Runs in the page.
function focusInPage(within) {
  const node = document.activeElement;
  const name = node
    ? (node.getAttribute('aria-label') || (node.labels && node.labels[0]?.innerText) || node.innerText ||
        node.tagName).trim().slice(0, 60)
    : '';
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const notebook = widget && widget.content;
  return {
    focus: name,
    tag: node ? node.tagName.toLowerCase() : '',
    inside: Boolean(node && within && node.closest(within)),
    cell: notebook && typeof notebook.activeCellIndex === 'number' ? notebook.activeCellIndex : null,
    cells: notebook && notebook.model ? notebook.model.cells.length : null,
  };
}

// WCAG 2 contrast of every rendered text inside `selector`, against the background it is
// painted on (ancestors' backgrounds blended; images ignored). Disabled controls are exempt,
// as WCAG makes them. Runs in the page; returns {checked, min, failures}.
function contrastInPage(selector) {
  const parse = (text) => {
    const rgb = /rgba?\(([^)]+)\)/.exec(text || '');
    const srgb = /color\(srgb ([^)]+)\)/.exec(text || ''); // what color-mix() computes to
    if (!rgb && !srgb) throw new Error(`contrast: cannot read the colour ${text}`);
    const p = (rgb || srgb)[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    const scale = rgb ? 1 : 255;
    return { r: p[0] * scale, g: p[1] * scale, b: p[2] * scale, a: p.length > 3 ? p[3] : 1 };
  };
  const blend = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const channel = (v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const backgroundOf = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.a > 0) {
        layers.push(c);
        if (c.a >= 1) break;
      }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const c of layers.reverse()) bg = blend(c, bg);
    return bg;
  };
  const failures = [];
  let checked = 0;
  let min = Infinity;
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    while (walker.nextNode()) {
      const text = walker.currentNode.textContent.trim();
      const el = walker.currentNode.parentElement;
      if (!text || !el || seen.has(el)) continue;
      seen.add(el);
      const box = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (!box.width || !box.height || style.visibility !== 'visible' || el.closest('[hidden]')) continue;
      if (el.closest('button:disabled, input:disabled, select:disabled, option:disabled')) continue;
      const bg = backgroundOf(el);
      const fg = blend(parse(style.color), bg);
      const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      checked += 1;
      min = Math.min(min, ratio);
      if (ratio < (large ? 3 : 4.5)) {
        failures.push({
          text: text.slice(0, 40),
          element: `${el.tagName.toLowerCase()}.${String(el.className).split(' ').join('.')}`,
          ratio: Math.round(ratio * 100) / 100,
          color: style.color,
          background: `rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})`,
        });
      }
    }
  }
  return { checked, min: Math.round(min * 100) / 100, failures };
}

function validate(steps) {
  if (!Array.isArray(steps)) throw new StepError('"steps" must be a list');
  steps.forEach((step, index) => {
    const op = step && step.op;
    if (!Object.hasOwn(OPS, op)) {
      const hint = op === 'sleep_ms' ? ' (tests wait on conditions: use wait / wait_text)' : '';
      throw Object.assign(new StepError(`unsupported op ${JSON.stringify(op)}${hint}`), {
        index,
        op,
      });
    }
    for (const key of OPS[op]) {
      if (step[key] === undefined || step[key] === null) {
        throw Object.assign(new StepError(`op ${JSON.stringify(op)} needs ${JSON.stringify(key)}`), {
          index,
          op,
        });
      }
    }
  });
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

// True once the notebook `nbPath` is the current widget, its model and session are ready and
// its kernel is idle. Runs in the page. Accepts a kernel-selection dialog if one shows up.
function notebookReadyInPage(nbPath) {
  const accept = document.querySelector('.jp-Dialog .jp-mod-accept');
  if (accept && /kernel/i.test(document.querySelector('.jp-Dialog')?.innerText || '')) {
    accept.click();
    return false;
  }
  const app = window.jupyterapp;
  if (!app) {
    // App not exposed (--LabApp.expose_app_in_browser=False): fall back to the DOM.
    return Boolean(
      document.querySelector('.jp-NotebookPanel .jp-Notebook') &&
        document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]'),
    );
  }
  const widget = app.shell.currentWidget;
  if (!widget || !widget.context || !widget.sessionContext || !widget.content) return false;
  if (widget.context.path !== nbPath || !widget.context.isReady) return false;
  if (!widget.sessionContext.isReady) return false;
  const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
  return Boolean(kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected');
}

// True when the kernel is idle and no cell shows the pending prompt `[*]`. Runs in the page.
function notebookIdleInPage() {
  const pending = [...document.querySelectorAll('.jp-NotebookPanel .jp-InputPrompt')].some((el) =>
    el.innerText.includes('[*]'),
  );
  if (pending) return false;
  const app = window.jupyterapp;
  const widget = app && app.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session?.kernel;
  if (kernel) return kernel.status === 'idle';
  return Boolean(document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]'));
}

async function main() {
  const plan = JSON.parse(await readStdin());
  const started = Date.now();
  const deadline = started + (plan.timeout_ms || 120000);
  const out = { ok: false, results: {}, error: null, step: null, op: null, console: [],
    dialogs: [], blocked: [], screenshot: null };

  const lab = new URL(plan.url);
  const token = lab.searchParams.get('token') || '';
  const base = lab.origin + (lab.pathname.endsWith('/') ? lab.pathname : `${lab.pathname}/`);
  const nbPath = String(plan.notebook).replace(/^\/+/, '');
  const workspace = `t${crypto.randomBytes(6).toString('hex')}`;
  const nbUrl = `${base}lab/workspaces/${workspace}/tree/${nbPath
    .split('/')
    .map(encodeURIComponent)
    .join('/')}${token ? `?token=${encodeURIComponent(token)}` : ''}`;

  const remaining = () => Math.max(1, deadline - Date.now());
  const stepTimeout = (step) => Math.max(1, Math.min(step.timeout_ms ?? DEFAULT_STEP_TIMEOUT_MS, remaining()));

  try {
    validate(plan.steps || []);
  } catch (err) {
    out.step = err.index ?? null;
    out.op = err.op ?? null;
    out.error = err.message;
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 1;
  }

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scq-chromium-'));
  let context = null;
  let page = null;
  let stepIndex = null;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
      timeout: Math.min(60000, remaining()),
    });
    await context.route(
      (url) => /^https?:$/.test(url.protocol) && url.origin !== lab.origin,
      (route) => {
        out.blocked.push(route.request().url());
        return route.abort('blockedbyclient');
      },
    );
    page = context.pages()[0] || (await context.newPage());
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const loc = msg.location();
      out.console.push(`${msg.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
    });
    page.on('pageerror', (err) => out.console.push(`pageerror: ${err.stack || err.message}`));
    let wsBytes = 0;
    page.on('websocket', (ws) => {
      ws.on('framereceived', (frame) => {
        const payload = frame.payload;
        wsBytes += typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
      });
    });
    page.on('dialog', async (dialog) => {
      // A reload of a dirty notebook asks "leave site?": let it go. Anything else (alert,
      // confirm, prompt) is recorded and dismissed; an XSS `alert(1)` shows up here.
      if (dialog.type() === 'beforeunload') {
        await dialog.accept().catch(() => {});
        return;
      }
      out.dialogs.push({ type: dialog.type(), message: dialog.message() });
      await dialog.dismiss().catch(() => {});
    });

    const waitForNotebook = async (timeout) => {
      await page.waitForFunction(notebookReadyInPage, nbPath, { timeout, polling: 50 });
    };
    const waitIdle = async (timeout) => {
      await page.waitForFunction(notebookIdleInPage, null, { timeout, polling: 50 });
    };

    stepIndex = -1; // opening the notebook
    out.op = 'open';
    await page.goto(nbUrl, { timeout: Math.min(60000, remaining()) });
    await waitForNotebook(Math.min(60000, remaining()));

    for (const [index, step] of (plan.steps || []).entries()) {
      stepIndex = index;
      out.op = step.op;
      const timeout = stepTimeout(step);
      const first = () => page.locator(step.selector).first();
      const store = (value) => {
        if (step.name !== undefined && step.name !== null) out.results[step.name] = value;
      };
      switch (step.op) {
        case 'run_all': {
          const hasApp = await page.evaluate(() => Boolean(window.jupyterapp));
          if (hasApp) {
            // The command's promise settles once every cell's execute_reply is in; keep its
            // outcome on window and wait for it (page.evaluate itself has no timeout).
            await page.evaluate(() => {
              window.__scqRunAll = { done: false };
              window.jupyterapp.commands.execute('notebook:run-all-cells').then(
                (value) => { window.__scqRunAll = { done: true, value }; },
                (err) => { window.__scqRunAll = { done: true, error: String(err) }; },
              );
            });
            await page.waitForFunction(() => window.__scqRunAll.done, null, { timeout, polling: 50 });
            const outcome = await page.evaluate(() => window.__scqRunAll);
            if (outcome.error) throw new StepError(`notebook:run-all-cells failed: ${outcome.error}`);
          } else {
            await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).first().click({ timeout });
            await page.locator('[data-command="notebook:run-all-cells"]').first().click({ timeout });
            await page.waitForFunction(
              () => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
                .every((el) => /\[\d+\]/.test(el.innerText)),
              null,
              { timeout, polling: 50 },
            );
          }
          await waitIdle(timeout);
          if (!step.allow_errors) {
            const errors = await page.evaluate(() => {
              const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
              if (!widget || !widget.content || !widget.content.model) return [];
              const found = [];
              [...widget.content.model.cells].forEach((cell, i) => {
                if (cell.type !== 'code') return;
                for (const o of cell.toJSON().outputs || []) {
                  if (o.output_type === 'error') {
                    found.push(`cell ${i}: ${o.ename}: ${o.evalue}\n${(o.traceback || []).join('\n')}`);
                  }
                }
              });
              return found;
            });
            if (errors.length) {
              // Tracebacks carry ANSI colour codes: strip them for a readable message.
              // eslint-disable-next-line no-control-regex
              const clean = errors.join('\n').replace(/\u001b\[[0-9;]*m/g, '');
              throw new StepError(`a cell raised (pass allow_errors to accept):\n${clean}`);
            }
          }
          break;
        }
        case 'wait':
          await first().waitFor({ state: step.state || 'visible', timeout });
          break;
        case 'click':
          await first().click({ timeout });
          break;
        case 'fill':
          await first().fill(String(step.text), { timeout });
          break;
        case 'press':
          await first().press(step.key, { timeout });
          break;
        case 'select':
          await first().selectOption(step.value, { timeout });
          break;
        case 'check':
          await first().check({ timeout });
          break;
        case 'text':
          store(await first().innerText({ timeout }));
          break;
        case 'texts':
          store(await page.locator(step.selector).allInnerTexts());
          break;
        case 'count':
          store(await page.locator(step.selector).count());
          break;
        case 'attr':
          store(await first().getAttribute(step.attribute, { timeout }));
          break;
        case 'html_contains': {
          const html = await first().innerHTML({ timeout });
          store(html.includes(step.text));
          break;
        }
        case 'wait_text': {
          const locator = page.locator(step.selector);
          const until = Date.now() + timeout;
          let seen = [];
          for (;;) {
            seen = await locator.allInnerTexts();
            if (seen.some((t) => t.includes(step.text))) break;
            if (Date.now() >= until) {
              throw new StepError(
                `no ${JSON.stringify(step.selector)} contains ${JSON.stringify(step.text)} ` +
                  `within ${timeout} ms; texts seen: ${JSON.stringify(seen).slice(0, 1000)}`,
              );
            }
            await page.waitForTimeout(50); // polling interval of a condition, not a sleep step
          }
          break;
        }
        case 'eval':
          store(await page.evaluate(step.expression));
          break;
        case 'screenshot':
          if (step.selector) await first().screenshot({ path: step.path, timeout });
          else await page.screenshot({ path: step.path, fullPage: true, timeout });
          break;
        case 'theme':
          await page.evaluate(
            (theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme }),
            step.theme,
          );
          await page.waitForFunction(
            (theme) => document.body.dataset.jpThemeName === theme,
            step.theme,
            { timeout, polling: 50 },
          );
          // JupyterLab fades a splash over the page while it changes theme: a screenshot
          // taken before it is gone shows the overlay, not the widgets
          await page.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout });
          break;
        case 'axe': {
          if (!(await page.evaluate(() => Boolean(window.axe)))) await page.addScriptTag({ path: AXE });
          store(
            await page.evaluate(async (selector) => {
              const nodes = document.querySelectorAll(selector);
              if (nodes.length === 0) throw new Error(`axe: nothing matches ${selector}`);
              const result = await window.axe.run(nodes, {
                runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
              });
              const brief = (items) =>
                items.map((v) => ({
                  id: v.id,
                  impact: v.impact,
                  help: v.help,
                  nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary || ''}`),
                }));
              return {
                violations: brief(result.violations),
                incomplete: brief(result.incomplete),
                passes: result.passes.map((v) => v.id),
              };
            }, step.selector),
          );
          break;
        }
        case 'contrast':
          store(await page.evaluate(contrastInPage, step.selector));
          break;
        case 'viewport':
          await page.setViewportSize({ width: step.width, height: step.height || 900 });
          break;
        case 'keys': {
          const seen = [];
          for (const key of step.keys) {
            await page.keyboard.press(key);
            seen.push({ key, ...(await page.evaluate(focusInPage, step.within || null)) });
          }
          if (step.keys.length === 0) seen.push({ key: null, ...(await page.evaluate(focusInPage, step.within || null)) });
          store(seen);
          break;
        }
        case 'tab_until': {
          const seen = [];
          const max = step.max || 40;
          for (;;) {
            if (seen.length >= max) {
              throw new StepError(
                `no focus on ${JSON.stringify(step.selector)} after ${max} presses of ` +
                  `${step.key || 'Tab'}; stops: ${JSON.stringify(seen.map((s) => s.focus))}`,
              );
            }
            await page.keyboard.press(step.key || 'Tab');
            seen.push({ key: step.key || 'Tab', ...(await page.evaluate(focusInPage, step.within || null)) });
            if (await page.evaluate((sel) => Boolean(document.activeElement?.matches(sel)), step.selector)) break;
          }
          store(seen);
          break;
        }
        case 'wait_focus':
          await page.waitForFunction(
            (sel) => Boolean(document.activeElement && document.activeElement.matches(sel)),
            step.selector,
            { timeout, polling: 50 },
          );
          break;
        case 'download': {
          const [download] = await Promise.all([
            page.waitForEvent('download', { timeout }),
            step.key ? first().press(step.key, { timeout }) : first().click({ timeout }),
          ]);
          const file = path.join(userDataDir, `download-${crypto.randomBytes(4).toString('hex')}`);
          await download.saveAs(file);
          const bytes = fs.readFileSync(file);
          store({
            filename: download.suggestedFilename(),
            size: bytes.length,
            sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
          });
          break;
        }
        case 'ws_bytes':
          store(wsBytes);
          if (step.reset) wsBytes = 0;
          break;
        case 'save':
          await page.evaluate(() => window.jupyterapp.commands.execute('docmanager:save'));
          await page.waitForFunction(
            () => !window.jupyterapp.shell.currentWidget.context.model.dirty,
            null,
            { timeout, polling: 50 },
          );
          break;
        case 'reload':
          if (step.save !== false) {
            // Outputs (hence widget views) come back after a reload only from the saved file;
            // the widget models come back from the live kernel.
            await page.evaluate(() => window.jupyterapp.commands.execute('docmanager:save'));
            await page.waitForFunction(
              () => !window.jupyterapp.shell.currentWidget.context.model.dirty,
              null,
              { timeout, polling: 50 },
            );
          }
          await page.reload({ timeout });
          await waitForNotebook(timeout);
          break;
        default:
          throw new StepError(`unsupported op ${JSON.stringify(step.op)}`);
      }
    }
    stepIndex = null;
    out.op = null;
    await waitIdle(Math.min(5000, remaining())).catch(() => {});
    out.ok = true;
  } catch (err) {
    out.ok = false;
    out.step = stepIndex;
    out.error = err instanceof StepError ? err.message : String((err && err.stack) || err);
    if (plan.screenshot_on_failure && page) {
      try {
        await page.screenshot({ path: plan.screenshot_on_failure, fullPage: true, timeout: 10000 });
        out.screenshot = plan.screenshot_on_failure;
      } catch (shotErr) {
        out.error += `\n(screenshot failed: ${shotErr.message})`;
      }
    }
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  out.elapsed_ms = Date.now() - started;
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return out.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stdout.write(
      `${JSON.stringify({ ok: false, results: {}, error: String((err && err.stack) || err), console: [] })}\n`,
    );
    process.exitCode = 1;
  },
);
