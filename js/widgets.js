// The front end of syft-code-queue's widgets: the data owner's review table and the data
// scientist's live status cell. Plain ESM, no dependencies, no network.
//
// Everything user-supplied is set as text (textContent), never as markup; the one exception
// is the file viewer's highlighted code, made on the Python side (viewer.py), where every
// character of the file is escaped.
//
// Nothing is rebuilt on a change: rows, the open job, the viewer and logs are patched in
// place by job id, so scroll positions, open panels and focus survive refreshes.

// Helpers

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(node, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

function setAttr(node, name, value) {
  if (value === null || value === undefined || value === false) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== String(value)) {
    node.setAttribute(name, String(value));
  }
}

function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function formatCount(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function exactTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

function relativeTime(iso, now = Date.now()) {
  if (!iso) return "";
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return String(iso);
  const s = Math.round((now - then) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 30 * 86400) return `${Math.round(s / 86400)} d ago`;
  return exactTime(iso).slice(0, 10);
}

function timeNode(iso) {
  return el("time", { datetime: iso || "", title: exactTime(iso) }, relativeTime(iso));
}

function refreshTimes(root) {
  const now = Date.now();
  for (const node of root.querySelectorAll("time[datetime]")) {
    setText(node, relativeTime(node.getAttribute("datetime"), now));
  }
}

function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function fillGuarantees(list, guarantees) {
  list.replaceChildren();
  for (const [name, text] of Object.entries(guarantees || {})) {
    const dd = el("dd", {}, text);
    if (text.startsWith("NOT ENFORCED")) dd.classList.add("scq-not-enforced");
    list.append(el("dt", {}, name.replaceAll("_", " ")), dd);
  }
  return list;
}

// A job state as people read it ("awaiting release"); the identifier stays in data-status.
function statusLabel(status) {
  return status.replaceAll("_", " ");
}

function statusBadge(status) {
  return el("span", { class: `scq-badge scq-badge-${status}`, "data-status": status }, statusLabel(status));
}

function setBadge(badge, status) {
  if (badge.dataset.status === status) return;
  badge.dataset.status = status;
  badge.className = `scq-badge scq-badge-${status}`;
  badge.textContent = statusLabel(status);
}

function hintsText(counts) {
  if (!counts) return "";
  const parts = ["warn", "look"].filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
  if ((counts.unparsed || []).length) parts.push("review manually");
  return parts.join(", ");
}

// Previous / Next and "first–last of total" under one paged list; onPage gets -1 or +1.
function pagerControls(onPage) {
  const info = el("span", { class: "scq-page-info", "aria-live": "polite" });
  const prev = el("button", { type: "button", class: "scq-prev" }, "Previous");
  const next = el("button", { type: "button", class: "scq-next" }, "Next");
  const node = el("div", { class: "scq-pager" }, prev, next, info);
  prev.addEventListener("click", () => onPage(-1));
  next.addEventListener("click", () => onPage(1));
  function show(offset, shown, limit, total) {
    const first = total === 0 ? 0 : offset + 1;
    const last = Math.min(total, offset + shown);
    setText(info, `${formatCount(first)}–${formatCount(last)} of ${formatCount(total)}`);
    prev.disabled = offset <= 0;
    next.disabled = offset + limit >= total;
  }
  return { node, show };
}

function quoted(name) {
  return `'${name}'`;
}

const DECIDABLE = new Set(["pending", "approved"]);

// In JupyterLab's command mode a key pressed on a focused button or checkbox of an output is
// a notebook command (its selector matches any focused element that is not editable):
// ArrowDown moves to the next cell, A inserts one, D D deletes the cell with the widget in
// it. JupyterLab handles keys when they bubble up to the document, so keys without Ctrl, Alt
// or Meta stop at the widget; the widget's own controls have had them by then. Shortcuts
// with those modifiers (save, run) still reach the application.
function keepKeysInWidget(root) {
  const stop = (event) => {
    if (!event.ctrlKey && !event.altKey && !event.metaKey) event.stopPropagation();
  };
  root.addEventListener("keydown", stop);
  return () => root.removeEventListener("keydown", stop);
}

// A message to the kernel that may find the widget closed (a view removed by close()).
function sendQuietly(model, message) {
  try {
    model.send(message);
  } catch {
    // closed: nobody to tell
  }
}

// The data owner's review table

const STATUSES = ["pending", "approved", "running", "awaiting_release", "completed", "failed", "rejected", "all"];
const COLUMNS = [
  { key: "select", label: "Select", hidden: true },
  { key: "status", label: "Status", sort: "status" },
  { key: "name", label: "Name", sort: "name" },
  { key: "requester", label: "Requester", sort: "requester" },
  { key: "submitted", label: "Submitted", sort: "created_at" },
  { key: "files", label: "Files" },
  { key: "tags", label: "Tags" },
  { key: "actions", label: "Actions", hidden: true },
];
const SEARCH_DEBOUNCE_MS = 150;

// The review table's Results view (release="manual"): the jobs whose results await the
// owner's release, each job's held files with the checks' findings and a safe preview,
// and Release selected / Withhold, each with a reason that belongs to that one decision.

const SEVERITIES = ["block", "review", "info"];
const RESULT_COLUMNS = [
  { key: "name", label: "Name" },
  { key: "requester", label: "Requester" },
  { key: "ran", label: "Ran" },
  { key: "outcome", label: "Run" },
  { key: "findings", label: "Findings" },
  { key: "actions", label: "Actions", hidden: true },
];

function severityBadges(counts, all = false) {
  const shown = SEVERITIES.filter((s) => all || (counts && counts[s]));
  return shown.map((s) =>
    el("span", { class: `scq-sev-badge scq-sev-${s}`, "data-severity": s }, `${(counts && counts[s]) || 0} ${s}`),
  );
}

function worstSeverity(findings) {
  return SEVERITIES.find((s) => findings.some((f) => f.severity === s)) || null;
}

function flagNode(node, findings) {
  const said = findings.map((f) => `${f.severity}: ${f.message}`).join("; ");
  node.classList.add("scq-flagged", `scq-flagged-${worstSeverity(findings)}`);
  node.setAttribute("title", said);
  node.append(el("span", { class: "scq-visually-hidden" }, ` (${said})`));
}

// A preview of one held file: tables as tables (flagged cells marked, the finding on hover),
// text with line numbers (flagged lines marked), images inline from a data: URL, binary as hex.
function resultPreview(file) {
  const view = file.preview || { kind: "none" };
  const findings = file.findings || [];
  const parts = [];
  if (view.kind === "table") {
    const header = view.header || [];
    const table = el("table", { class: "scq-preview scq-result-grid" });
    table.append(el("thead", {}, el("tr", {}, ...header.map((h) => el("th", { scope: "col" }, h)))));
    const body = el("tbody");
    (view.rows || []).forEach((cells, index) => {
      const row = index + 1; // the data row, 1-based, as the findings count them
      const tr = el("tr", { "data-row": String(row) });
      cells.forEach((value, c) => {
        const td = el("td", {}, value);
        const column = header[c] === undefined ? `#${c + 1}` : header[c];
        const here = findings.filter(
          (f) => f.row === row && (f.column === null || f.column === undefined || f.column === column || f.column === `#${c + 1}`),
        );
        if (here.length) {
          td.classList.add("scq-cell-flag");
          flagNode(td, here);
        }
        tr.append(td);
      });
      body.append(tr);
    });
    table.append(body);
    parts.push(el("div", { class: "scq-result-scroll", tabindex: "0", role: "region", "aria-label": `table preview of ${file.path}` }, table));
  } else if (view.kind === "text") {
    const code = el("pre", { class: "scq-code scq-result-text", tabindex: "0", role: "region", "aria-label": `text of ${file.path}` });
    const text = (view.text || "").replace(/\n$/, "");
    text.split("\n").forEach((line, index) => {
      const span = el("span", { class: "scq-line" }, line);
      const here = findings.filter((f) => f.line === index + 1);
      if (here.length) flagNode(span, here);
      code.append(span, "\n");
    });
    parts.push(code);
  } else if (view.kind === "image") {
    if (view.src && view.src.startsWith("data:image/")) {
      parts.push(el("img", { class: "scq-result-image", src: view.src, alt: `image ${file.path}` }));
    } else {
      parts.push(el("p", { class: "scq-muted" }, `image not shown inline (${formatBytes(file.size)}); read it with server.read_result_file`));
    }
  } else if (view.kind === "binary") {
    parts.push(
      el("div", { class: "scq-muted" }, "first bytes (hex)"),
      el("pre", { class: "scq-code scq-hex", tabindex: "0", role: "region", "aria-label": `first bytes of ${file.path}` }, view.hex || ""),
      el("div", { class: "scq-muted" }, "text found in it"),
      el("pre", { class: "scq-code scq-strings", tabindex: "0", role: "region", "aria-label": `text in ${file.path}` }, (view.strings || []).join("\n")),
    );
  } else {
    parts.push(el("p", { class: "scq-muted" }, `nothing to preview (${file.kind})`));
  }
  if (view.truncated) parts.unshift(el("p", { class: "scq-muted scq-result-cut" }, "the beginning only"));
  return parts;
}

function findingList(findings, label) {
  const list = el("ul", { class: "scq-finding-list", "aria-label": label });
  for (const f of findings) {
    list.append(
      el(
        "li",
        { class: `scq-finding scq-finding-${f.severity}` },
        el("span", { class: "scq-finding-severity" }, f.severity),
        ` ${f.where ? `${f.where}: ` : ""}${f.message} `,
        el("span", { class: "scq-muted" }, `[${f.check}]`),
      ),
    );
  }
  return list;
}

function renderResultsPanel({ model, id, send }) {
  const state = {
    open: null, // uid of the job whose results are open
    shownFor: null, // `${uid}|${checked_at}` of the report drawn
    file: new Map(), // uid -> path previewed
    ticked: new Map(), // `${uid}|${checked_at}` -> Set of paths to release
    rows: new Map(), // uid -> {tr, key}
    prompt: null, // {node, origin}
    detailRow: null,
  };
  const title = el("span", { class: "scq-title", tabindex: "-1" });
  const refresh = el("button", { type: "button", class: "scq-results-refresh" }, "Refresh");
  refresh.addEventListener("click", () => send({ action: "refresh" }));
  const toolbar = el("div", { class: "scq-toolbar" }, title, refresh);
  const notice = el("div", { class: "scq-notice", role: "status", "aria-live": "polite" });
  const off = el("div", { class: "scq-airlock-off", role: "note", hidden: "" });
  const headRow = el("tr");
  for (const column of RESULT_COLUMNS) {
    headRow.append(
      el(
        "th",
        { scope: "col", class: `scq-rcol-${column.key}` },
        column.hidden ? el("span", { class: "scq-visually-hidden" }, column.label) : column.label,
      ),
    );
  }
  const tbody = el("tbody");
  const table = el("table", { class: "scq-table scq-results-table" }, el("thead", {}, headRow), tbody);
  const empty = el("p", { class: "scq-results-empty scq-muted", hidden: "" }, "no results awaiting release");
  const pager = pagerControls((step) => {
    const r = model.get("results") || {};
    setPage((r.offset || 0) + step * (r.limit || 50));
  });
  const panel = el(
    "div",
    { class: "scq-results-panel", role: "tabpanel", id: `${id}-results-panel`, "aria-labelledby": `${id}-tab-results` },
    toolbar, notice, off, table, empty, pager.node,
  );

  function setPage(offset) {
    const view = model.get("results_view") || {};
    model.set("results_view", { ...view, offset: Math.max(0, offset) });
    model.save_changes();
  }

  function outcome(job) {
    if (job.error) return job.error;
    return job.exit_code === null || job.exit_code === undefined ? "" : `exit code ${job.exit_code}`;
  }

  function makeRow(job) {
    const isOpen = state.open === job.uid;
    const open = el(
      "button",
      {
        type: "button",
        class: "scq-results-open",
        "aria-expanded": isOpen ? "true" : "false",
        "aria-controls": `${id}-results-detail`,
        "aria-label": `${isOpen ? "Close" : "Open"} the results of ${quoted(job.name)}`,
      },
      isOpen ? "Close" : "Open results",
    );
    open.addEventListener("click", () => toggle(job.uid));
    let findings = el("span", { class: "scq-muted" }, "not checked yet");
    if (job.findings) {
      const badges = severityBadges(job.findings);
      findings = badges.length ? el("span", { class: "scq-row-findings" }, ...badges) : el("span", {}, "no findings");
    }
    return el(
      "tr",
      { class: `scq-row scq-result-row${isOpen ? " scq-is-open" : ""}`, "data-uid": job.uid },
      el("td", { class: "scq-rcol-name scq-cell-name", title: job.name }, el("span", { class: "scq-name" }, job.name)),
      el("td", { class: "scq-rcol-requester", title: job.requester }, job.requester),
      el("td", { class: "scq-rcol-ran" }, timeNode(job.completed_at)),
      el("td", { class: "scq-rcol-outcome", title: outcome(job) }, outcome(job)),
      el("td", { class: "scq-rcol-findings" }, findings),
      el("td", { class: "scq-rcol-actions scq-actions" }, open),
    );
  }

  function drawRows() {
    const results = model.get("results") || {};
    const jobs = results.rows || [];
    const wanted = [];
    const seen = new Set();
    for (const job of jobs) {
      const key = `${state.open === job.uid}|${JSON.stringify(job)}`;
      let entry = state.rows.get(job.uid);
      if (!entry || entry.key !== key) {
        const hadFocus = entry && entry.tr.contains(document.activeElement);
        const tr = makeRow(job);
        if (entry) entry.tr.replaceWith(tr);
        entry = { tr, key, job };
        state.rows.set(job.uid, entry);
        if (hadFocus) tr.querySelector(".scq-results-open").focus();
      }
      seen.add(job.uid);
      wanted.push(entry.tr);
      if (state.open === job.uid && state.detailRow) wanted.push(state.detailRow);
    }
    for (const [uid, entry] of state.rows) {
      if (!seen.has(uid)) {
        entry.tr.remove();
        state.rows.delete(uid);
      }
    }
    const lostFocus = state.open && !seen.has(state.open) && state.detailRow && state.detailRow.contains(document.activeElement);
    if (state.open && !seen.has(state.open)) closeDetail();
    let index = 0;
    for (const node of wanted) {
      if (tbody.children[index] !== node) tbody.insertBefore(node, tbody.children[index] || null);
      index += 1;
    }
    while (tbody.children.length > wanted.length) tbody.lastElementChild.remove();
    if (lostFocus) title.focus(); // the decided job is gone: focus stays in the view
    const total = results.total || 0;
    const offset = results.offset || 0;
    setText(title, `${formatCount(total)} awaiting release, oldest first`);
    // with the airlock off and nothing held, its note alone says why the list is empty
    empty.hidden = jobs.length > 0 || (model.get("airlock") !== "manual" && total === 0);
    table.hidden = jobs.length === 0;
    pager.show(offset, jobs.length, results.limit || 50, total);
    pager.node.hidden = total <= (results.limit || 50) && offset === 0;
  }

  function drawAirlock() {
    const manual = model.get("airlock") === "manual";
    off.hidden = manual;
    setText(
      off,
      manual
        ? ""
        : 'The output airlock is off on this queue (release="auto"): a job\'s results and logs go to the data scientist as soon as it ends. ' +
            'To check them here before they leave, create the server with release="manual" ' +
            '(scq.create_server(release="manual", job_data_dir=...), or scq serve --release manual).',
    );
  }

  function drawNotice() {
    const value = model.get("notice");
    setText(notice, value && value.text ? value.text : "");
    notice.className = `scq-notice ${value && value.kind ? `scq-notice-${value.kind}` : ""}`;
  }

  function toggle(uid) {
    if (state.open === uid) {
      closeDetail();
      drawRows();
      state.rows.get(uid)?.tr.querySelector(".scq-results-open")?.focus();
      return;
    }
    closeDetail();
    state.open = uid;
    state.detailRow = el(
      "tr",
      { class: "scq-results-detail", "data-uid": uid },
      el(
        "td",
        { colspan: String(RESULT_COLUMNS.length), id: `${id}-results-detail` },
        el("div", { class: "scq-loading", role: "status" }, "checking the held results…"),
      ),
    );
    state.focusOnDetail = true;
    send({ action: "results_open", uid });
    drawRows();
  }

  function closeDetail() {
    closePrompt(false);
    if (state.detailRow) state.detailRow.remove();
    state.detailRow = null;
    state.open = null;
    state.shownFor = null;
  }

  function tickedOf(report) {
    const key = `${report.uid}|${report.checked_at}`;
    if (!state.ticked.has(key)) {
      // files with a block finding start unticked; a file that is not regular never leaves
      state.ticked.set(key, new Set(report.files.filter((f) => f.releasable && !f.counts.block).map((f) => f.path)));
    }
    return state.ticked.get(key);
  }

  function drawReport() {
    const report = model.get("report");
    if (!state.detailRow || !report || report.uid !== state.open) return;
    const key = `${report.uid}|${report.checked_at}|${report.error || ""}`;
    if (state.shownFor === key) return;
    state.shownFor = key;
    closePrompt(false);
    const name = quoted(report.name);
    if (report.error) {
      state.detailRow.firstElementChild.replaceChildren(
        el("div", { class: "scq-warning", role: "alert" }, `The results of ${name} could not be checked: ${report.error}`),
      );
      return;
    }
    const ticked = tickedOf(report);
    const heading = el("h3", { class: "scq-detail-title", tabindex: "-1" }, `Held results of ${name}`);
    const files = el("ul", { class: "scq-held-files", "aria-label": `Held files of ${name}` });
    const preview = el("div", { class: "scq-result-preview", role: "region", "aria-label": `Preview of a held file of ${name}` });
    const count = el("span", { class: "scq-tick-count", "aria-live": "polite" });
    const releaseButton = el("button", { type: "button", class: "scq-release-selected scq-primary" }, "Release selected…");
    const withholdButton = el("button", { type: "button", class: "scq-withhold scq-danger" }, "Withhold…");
    const promptSlot = el("div", { class: "scq-result-prompt-slot" });
    const decide = el(
      "div",
      { class: "scq-result-decide", role: "group", "aria-label": `Decide on the results of ${name}` },
      releaseButton, withholdButton, count,
    );
    const update = () => {
      const n = ticked.size;
      setText(count, `${n} of ${report.files.filter((f) => f.releasable).length} ticked`);
      releaseButton.disabled = n === 0;
    };
    const buttons = [];
    for (const file of report.files) {
      const pick = el("input", {
        type: "checkbox",
        class: "scq-release-pick",
        "aria-label": `Release ${quoted(file.path)} of ${name}`,
      });
      pick.checked = ticked.has(file.path);
      pick.disabled = !file.releasable;
      pick.addEventListener("change", () => {
        if (pick.checked) ticked.add(file.path);
        else ticked.delete(file.path);
        closePrompt(false); // a prompt was for the files ticked when it opened
        update();
      });
      const button = el(
        "button",
        { type: "button", class: "scq-held-file-button", "data-path": file.path, "aria-label": `Preview ${quoted(file.path)} of ${name}` },
        el("span", { class: "scq-file-name" }, file.path),
        el("span", { class: "scq-file-size" }, `${formatBytes(file.size)} · ${file.kind}`),
      );
      button.addEventListener("click", () => {
        state.file.set(report.uid, file.path);
        drawPreview();
      });
      button.addEventListener("keydown", (event) => {
        const at = buttons.indexOf(button);
        const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
        if (to === undefined) return;
        event.preventDefault();
        const target = buttons[Math.max(0, Math.min(buttons.length - 1, to))];
        target.focus();
        target.click();
      });
      buttons.push(button);
      files.append(
        el(
          "li",
          { class: "scq-held-file", "data-path": file.path },
          pick,
          button,
          el("span", { class: "scq-held-badges" }, ...severityBadges(file.counts)),
        ),
      );
    }
    function drawPreview() {
      const path = state.file.get(report.uid);
      const file = report.files.find((f) => f.path === path) || report.files[0];
      for (const b of buttons) setAttr(b, "aria-current", file && b.dataset.path === file.path ? "true" : null);
      if (!file) {
        preview.replaceChildren(el("p", { class: "scq-muted" }, "no held files"));
        return;
      }
      setAttr(preview, "aria-label", `Preview of ${quoted(file.path)} of ${name}`);
      preview.replaceChildren(
        el(
          "div",
          { class: "scq-viewer-head" },
          el("span", { class: "scq-viewer-path" }, file.path),
          el("span", { class: "scq-muted" }, `${formatBytes(file.size)} · ${file.kind}`),
          ...severityBadges(file.counts),
        ),
        file.findings.length ? findingList(file.findings, `Findings in ${file.path}`) : el("p", { class: "scq-muted" }, "no findings"),
        ...resultPreview(file),
      );
    }
    if (!state.file.has(report.uid)) {
      const first = report.files.find((f) => f.findings.length) || report.files[0];
      if (first) state.file.set(report.uid, first.path);
    }
    releaseButton.addEventListener("click", () => openPrompt("release", report, ticked, promptSlot));
    withholdButton.addEventListener("click", () => openPrompt("withhold", report, ticked, promptSlot));
    const side = el(
      "div",
      { class: "scq-result-side" },
      heading,
      el("div", { class: "scq-result-totals" }, ...severityBadges(report.counts, true), " ", el("span", { class: "scq-muted" }, "checked "), timeNode(report.checked_at)),
      report.general.length ? findingList(report.general, `Findings about all results of ${name}`) : null,
      files,
      decide,
      promptSlot,
    );
    const cell = state.detailRow.firstElementChild;
    cell.replaceChildren(el("div", { class: "scq-result-body" }, side, preview));
    cell.onkeydown = (event) => {
      if (event.key === "Escape" && !state.prompt) toggle(report.uid);
    };
    update();
    drawPreview();
    if (state.focusOnDetail) {
      state.focusOnDetail = false;
      heading.focus();
    }
  }

  // One prompt for one decision: its reason is gone once it is used or cancelled.
  function openPrompt(action, report, ticked, slot) {
    closePrompt(false);
    const name = quoted(report.name);
    const chosen = report.files.filter((f) => f.releasable && ticked.has(f.path));
    const blocked = chosen.filter((f) => f.counts.block);
    const what = action === "release" ? `${chosen.length} file${chosen.length === 1 ? "" : "s"} of ${name}` : `the results of ${name}`;
    const verb = action === "release" ? "Release" : "Withhold";
    const kept = report.files.filter((f) => !chosen.includes(f)).map((f) => f.path);
    // The reason is for what is withheld: releasing every file needs none.
    const reasonNeeded = action === "withhold" || kept.length > 0;
    const input = el("input", {
      type: "text",
      class: "scq-prompt-text",
      "aria-label": action === "release" ? `Reason for releasing ${what}` : `Reason for withholding ${what}`,
      placeholder: reasonNeeded ? "reason (required; shown to the requester)" : "reason (optional: nothing withheld)",
    });
    const confirm = el("button", { type: "button", class: `scq-confirm ${action === "release" ? "scq-primary" : "scq-danger"}` }, `${verb} ${what}`);
    const cancel = el("button", { type: "button", class: "scq-cancel" }, "Cancel");
    const box = el("div", { class: `scq-prompt scq-result-prompt scq-prompt-${action}`, role: "group", "aria-label": `${verb} ${what}` });
    if (action === "release") {
      box.append(
        el(
          "p",
          { class: "scq-prompt-names" },
          `Release: ${chosen.map((f) => f.path).join(", ")}. ${kept.length ? `Withheld: ${kept.join(", ")}.` : "Nothing withheld."}`,
        ),
      );
    } else {
      box.append(el("p", { class: "scq-prompt-names" }, `Nothing of ${name} leaves; the job ends failed (withheld).`));
    }
    let accept = null;
    if (action === "release" && blocked.length) {
      accept = el("input", { type: "checkbox", class: "scq-block-confirm", id: `${id}-block-confirm` });
      box.append(
        el(
          "p",
          { class: "scq-prompt-warning" },
          `Ticked files with block findings: ${blocked.map((f) => `${f.path} (${f.counts.block} block)`).join(", ")}.`,
        ),
        el("label", { for: `${id}-block-confirm` }, accept, " Release them anyway: I checked the block findings"),
      );
    }
    box.append(input, confirm, cancel);
    const update = () => {
      confirm.disabled = (reasonNeeded && !input.value.trim()) || (accept !== null && !accept.checked);
    };
    input.addEventListener("input", update);
    if (accept) accept.addEventListener("change", update);
    update();
    const origin = document.activeElement;
    const decideNow = () => {
      if (confirm.disabled) return;
      const message = { action, uid: report.uid, reason: input.value.trim() };
      if (action === "release") {
        message.files = chosen.map((f) => f.path);
        message.confirm_block = accept !== null && accept.checked;
      }
      send(message);
      closePrompt(true);
    };
    confirm.addEventListener("click", decideNow);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") decideNow();
      if (event.key === "Escape") {
        // this Escape is the prompt's: the open job around it stays open
        event.stopPropagation();
        closePrompt(true);
      }
    });
    cancel.addEventListener("click", () => closePrompt(true));
    slot.replaceChildren(box);
    state.prompt = { node: box, origin };
    input.focus();
  }

  function closePrompt(restoreFocus) {
    const prompt = state.prompt;
    if (!prompt) return;
    state.prompt = null;
    prompt.node.remove(); // its text goes with it
    if (restoreFocus && prompt.origin && prompt.origin.isConnected) prompt.origin.focus();
  }

  const handlers = {
    "change:results": drawRows,
    "change:report": drawReport,
    "change:airlock": drawAirlock,
    "change:notice": drawNotice,
  };
  for (const [name, handler] of Object.entries(handlers)) model.on(name, handler);
  drawAirlock();
  drawRows();
  drawReport();
  drawNotice();
  return {
    panel,
    dispose() {
      for (const [name, handler] of Object.entries(handlers)) model.off(name, handler);
    },
  };
}

// The review table's two views, as a tab list: Code (the jobs and their code) and Results.
function viewTabs({ model, id, panels }) {
  const tabs = {
    code: el("button", { type: "button", role: "tab", class: "scq-tab scq-tab-code", id: `${id}-tab-code`, "aria-controls": `${id}-code-panel` }),
    results: el("button", { type: "button", role: "tab", class: "scq-tab scq-tab-results", id: `${id}-tab-results`, "aria-controls": `${id}-results-panel` }),
  };
  const list = el("div", { class: "scq-tabs", role: "tablist", "aria-label": "Review view" }, tabs.code, tabs.results);
  const order = ["code", "results"];
  function choose(name, focus) {
    model.set("tab", name);
    model.save_changes();
    draw();
    if (focus) tabs[name].focus();
  }
  for (const name of order) {
    tabs[name].addEventListener("click", () => choose(name, false));
    tabs[name].addEventListener("keydown", (event) => {
      const at = order.indexOf(name);
      const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: order.length - 1 }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      choose(order[(to + order.length) % order.length], true);
    });
  }
  function draw() {
    const shown = model.get("tab") === "results" ? "results" : "code";
    const counts = model.get("counts") || {};
    setText(tabs.code, `Code (${formatCount(counts.pending || 0)} pending)`);
    const waiting = counts.awaiting_release || 0;
    setText(tabs.results, model.get("airlock") === "manual" || waiting ? `Results (${formatCount(waiting)} awaiting release)` : "Results (airlock off)");
    for (const name of order) {
      setAttr(tabs[name], "aria-selected", name === shown ? "true" : "false");
      setAttr(tabs[name], "tabindex", name === shown ? "0" : "-1");
      panels[name].hidden = name !== shown;
    }
  }
  const names = ["change:tab", "change:counts", "change:airlock"];
  for (const name of names) model.on(name, draw);
  draw();
  return {
    node: list,
    dispose() {
      for (const name of names) model.off(name, draw);
    },
  };
}

function renderReview({ model, el: root }) {
  root.classList.add("scq-widget", "scq-review");
  const releaseKeys = keepKeysInWidget(root);
  const id = `scq${Math.random().toString(36).slice(2, 9)}`;
  setAttr(root, "data-owner", model.get("owner"));
  const state = {
    selected: new Set(),
    open: null, // uid of the open job
    prompt: null, // {action, uids, node}
    rows: new Map(), // uid -> {tr, job, cells}
    detailRow: null,
    focusOnDetail: false,
  };

  // toolbar
  const title = el("span", { class: "scq-title" });
  const filter = el("select", { class: "scq-filter", "aria-label": "Show jobs with status" });
  const search = el("input", {
    class: "scq-search",
    type: "search",
    placeholder: "search name, requester, tag, id",
    "aria-label": "Search jobs",
  });
  const groupBox = el("input", { type: "checkbox", class: "scq-group-toggle", id: `${id}-group` });
  const group = el("label", { for: `${id}-group` }, groupBox, " by requester");
  const refresh = el("button", { class: "scq-refresh", type: "button" }, "Refresh");
  const selectAll = el("input", { type: "checkbox", class: "scq-select-all", id: `${id}-all` });
  const selectAllLabel = el("label", { for: `${id}-all` }, selectAll, " Select all shown");
  const bulkCount = el("span", { class: "scq-bulk-count", "aria-live": "polite" });
  const bulkApprove = el("button", { class: "scq-bulk-approve", type: "button" }, "Approve selected…");
  const bulkReject = el("button", { class: "scq-bulk-reject scq-danger", type: "button" }, "Reject selected…");
  const bulk = el("div", { class: "scq-bulk" }, selectAllLabel, bulkCount, bulkApprove, bulkReject);
  const bulkPrompt = el("div", { class: "scq-bulk-prompt" });
  const toolbar = el("div", { class: "scq-toolbar" }, title, filter, search, group, refresh, bulk, bulkPrompt);
  const notice = el("div", { class: "scq-notice", role: "status", "aria-live": "polite" });

  const headRow = el("tr");
  const sortButtons = new Map();
  for (const column of COLUMNS) {
    const th = el("th", { scope: "col", class: `scq-col-${column.key}` });
    if (column.sort) {
      const button = el("button", { type: "button", class: "scq-sort", "data-sort": column.sort }, column.label);
      button.addEventListener("click", () => {
        const view = model.get("view");
        const desc = view.sort === column.sort ? !view.desc : column.sort === "created_at";
        setView({ sort: column.sort, desc, offset: 0 });
      });
      sortButtons.set(column.sort, { th, button });
      th.append(button);
    } else if (column.hidden) {
      th.append(el("span", { class: "scq-visually-hidden" }, column.label));
    } else {
      th.append(column.label);
    }
    headRow.append(th);
  }
  const tbody = el("tbody");
  const table = el("table", { class: "scq-table" }, el("thead", {}, headRow), tbody);
  const empty = el("p", { class: "scq-empty scq-muted", hidden: "" }, "no jobs here");
  const pager = pagerControls((step) => {
    const view = model.get("view");
    setView({ offset: Math.max(0, view.offset + step * view.limit) });
  });
  const codePanel = el(
    "div",
    { class: "scq-code-panel", role: "tabpanel", id: `${id}-code-panel`, "aria-labelledby": `${id}-tab-code` },
    toolbar, notice, table, empty, pager.node,
  );
  const results = renderResultsPanel({ model, id, send: (message) => model.send(message) });
  const tabs = viewTabs({ model, id, panels: { code: codePanel, results: results.panel } });
  root.append(tabs.node, codePanel, results.panel);

  function send(message) {
    model.send(message);
  }

  function setView(changes) {
    model.set("view", { ...model.get("view"), ...changes });
    model.save_changes();
    // A filter, search or page change hides rows: a decision acts only on what is shown.
    clearSelection();
    drawView();
  }

  // Rows

  function cellsOf(tr) {
    return {
      pick: tr.querySelector(".scq-select"),
      badge: tr.querySelector(".scq-badge"),
      name: tr.querySelector(".scq-name"),
      message: tr.querySelector(".scq-message"),
      changes: tr.querySelector(".scq-changes"),
      hints: tr.querySelector(".scq-hints"),
      requester: tr.querySelector(".scq-requester"),
      time: tr.querySelector("time"),
      files: tr.querySelector(".scq-files-count"),
      reading: tr.querySelector(".scq-reading"),
      tags: tr.querySelector(".scq-tags"),
      actions: tr.querySelector(".scq-actions"),
    };
  }

  function makeRow(job) {
    const pick = el("input", { type: "checkbox", class: "scq-select" });
    pick.addEventListener("change", () => {
      if (pick.checked) state.selected.add(pick.dataset.uid);
      else state.selected.delete(pick.dataset.uid);
      drawBulk();
    });
    const tr = el(
      "tr",
      { class: "scq-row", "data-uid": job.uid },
      el("td", { class: "scq-col-select" }, pick),
      el("td", { class: "scq-col-status" }, statusBadge(job.status)),
      el(
        "td",
        { class: "scq-col-name scq-cell-name" },
        el("span", { class: "scq-name" }),
        el("div", { class: "scq-changes" }),
        el("div", { class: "scq-message scq-muted" }),
      ),
      el("td", { class: "scq-col-requester scq-requester" }),
      el("td", { class: "scq-col-submitted" }, timeNode(job.created_at)),
      el(
        "td",
        { class: "scq-col-files" },
        el("span", { class: "scq-files-count" }),
        " ",
        el("span", { class: "scq-reading" }),
        el("span", { class: "scq-hints" }),
      ),
      el("td", { class: "scq-col-tags scq-tags" }),
      el("td", { class: "scq-col-actions scq-actions" }),
    );
    const entry = { tr, job: null, cells: cellsOf(tr), actionsFor: null };
    patchRow(entry, job);
    return entry;
  }

  function patchRow(entry, job) {
    const { tr, cells } = entry;
    const isOpen = state.open === job.uid;
    const key = `${isOpen}|${JSON.stringify(job)}`;
    entry.job = job;
    if (entry.key === key) return;
    entry.key = key;
    tr.className = `scq-row scq-status-${job.status}${state.open === job.uid ? " scq-is-open" : ""}`;
    cells.pick.dataset.uid = job.uid;
    setAttr(cells.pick, "aria-label", `Select ${quoted(job.name)}`);
    cells.pick.disabled = !DECIDABLE.has(job.status);
    cells.pick.checked = state.selected.has(job.uid);
    setBadge(cells.badge, job.status);
    setText(cells.name, job.name);
    setAttr(cells.name.parentNode, "title", job.name);
    setText(cells.message, job.error || job.reason || "");
    cells.message.hidden = !(job.error || job.reason);
    // review by difference: the version, and what changed since the approved one
    const changes = job.version ? [`v${job.version}`, job.diff].filter(Boolean).join(" · ") : job.diff || "";
    setText(cells.changes, changes);
    setAttr(cells.changes, "title", changes || null);
    cells.changes.hidden = !changes;
    // flagged lines: counts only, never a gate
    setText(cells.hints, job.hints_text || "");
    setAttr(cells.hints, "title", job.hints_text ? `flagged lines: ${job.hints_text}` : null);
    cells.hints.classList.toggle("scq-hints-warn", Boolean(job.hints && (job.hints.warn || (job.hints.unparsed || []).length)));
    setText(cells.requester, job.requester);
    setAttr(cells.requester, "title", job.requester); // the cell may cut it short
    setAttr(cells.time, "datetime", job.created_at);
    setAttr(cells.time, "title", exactTime(job.created_at));
    setText(cells.time, relativeTime(job.created_at));
    setText(cells.files, `${job.files} · ${formatBytes(job.bytes)}`);
    const risky = (job.risky || []).length;
    setText(
      cells.reading,
      risky ? `⚠ ${risky} unreadable` : job.viewed ? `${job.viewed}/${job.files} viewed` : "",
    );
    setAttr(cells.reading, "title", risky ? `cannot be read whole: ${job.risky.join(", ")}` : null);
    cells.reading.classList.toggle("scq-reading-done", !job.unread);
    setText(cells.tags, (job.tags || []).join(", "));
    const actionsKey = `${job.status}|${job.name}|${isOpen}`;
    if (entry.actionsFor !== actionsKey) {
      entry.actionsFor = actionsKey;
      const hadFocus = cells.actions.contains(document.activeElement) && document.activeElement.className;
      cells.actions.replaceChildren(...actionButtons(job));
      if (hadFocus) {
        const again = cells.actions.querySelector(`.${hadFocus.split(" ")[0]}`);
        if (again) again.focus();
      }
    }
  }

  function actionButtons(job) {
    const isOpen = state.open === job.uid;
    const open = el(
      "button",
      {
        class: "scq-open",
        type: "button",
        "aria-expanded": isOpen ? "true" : "false",
        "aria-controls": `${id}-detail`,
        "aria-label": `${isOpen ? "Close" : "Open"} ${quoted(job.name)}`,
      },
      isOpen ? "Close" : "Open",
    );
    open.addEventListener("click", () => toggleOpen(job.uid));
    const buttons = [open];
    if (job.status === "pending") {
      const approve = el(
        "button",
        { class: "scq-approve", type: "button", "aria-label": `Approve ${quoted(job.name)}` },
        "Approve",
      );
      approve.addEventListener("click", () => openPrompt("approve", [job.uid]));
      buttons.push(approve);
    }
    if (DECIDABLE.has(job.status)) {
      const reject = el(
        "button",
        { class: "scq-reject scq-danger", type: "button", "aria-label": `Reject ${quoted(job.name)}` },
        "Reject",
      );
      reject.addEventListener("click", () => openPrompt("reject", [job.uid]));
      buttons.push(reject);
    }
    return buttons;
  }

  function drawRows() {
    const focusAt = focusedRowIndex();
    drawRowsNow();
    if (focusAt !== null && !root.contains(document.activeElement)) refocusRow(focusAt);
  }

  // Where the focus is in the table: the index of the job row holding it, or of the row its
  // prompt or open panel belongs to; null when the focus is elsewhere.
  function focusedRowIndex() {
    const focused = document.activeElement;
    if (!focused || !tbody.contains(focused)) return null;
    const rows = [...tbody.querySelectorAll(":scope > tr.scq-row")];
    let index = 0;
    rows.forEach((tr, i) => {
      if (tr === focused.closest("tr") || tr.compareDocumentPosition(focused) & Node.DOCUMENT_POSITION_FOLLOWING) index = i;
    });
    return index;
  }

  // The row with the focus went away (approved off the pending page, say): the focus goes to
  // the row now in its place, else the last one, else the search box; never to the page.
  function refocusRow(index) {
    const rows = [...tbody.querySelectorAll(":scope > tr.scq-row")];
    const row = rows[Math.min(index, rows.length - 1)];
    const target = row ? row.querySelector(".scq-open") : search;
    if (target) target.focus();
  }

  function drawRowsNow() {
    const jobs = model.get("rows") || [];
    const seen = new Set();
    const wanted = [];
    const grouped = model.get("view").group === "requester";
    let lastRequester = null;
    for (const job of jobs) {
      if (grouped && job.requester !== lastRequester) {
        lastRequester = job.requester;
        wanted.push(groupRow(job.requester));
      }
      let entry = state.rows.get(job.uid);
      if (entry) patchRow(entry, job);
      else {
        entry = makeRow(job);
        state.rows.set(job.uid, entry);
      }
      seen.add(job.uid);
      wanted.push(entry.tr);
      if (state.prompt && state.prompt.rowUid === job.uid) wanted.push(state.prompt.node);
      if (state.open === job.uid && state.detailRow) wanted.push(state.detailRow);
    }
    for (const [uid, entry] of state.rows) {
      if (!seen.has(uid)) {
        entry.tr.remove();
        state.rows.delete(uid);
      }
    }
    if (state.prompt && state.prompt.rowUid && !seen.has(state.prompt.rowUid)) closePrompt(false);
    // Put the wanted nodes in order, moving only those out of place (a moved node loses focus).
    let index = 0;
    for (const node of wanted) {
      if (tbody.children[index] !== node) tbody.insertBefore(node, tbody.children[index] || null);
      index += 1;
    }
    while (tbody.children.length > wanted.length) tbody.lastElementChild.remove();
    empty.hidden = jobs.length > 0;
    // Selection keeps only rows shown and still open to a decision.
    for (const uid of [...state.selected]) {
      const entry = state.rows.get(uid);
      if (!entry || !DECIDABLE.has(entry.job.status)) state.selected.delete(uid);
    }
    drawBulk();
    drawView();
  }

  const groupRows = new Map();
  function groupRow(requester) {
    let tr = groupRows.get(requester);
    if (!tr) {
      tr = el("tr", { class: "scq-group" }, el("th", { colspan: String(COLUMNS.length), scope: "colgroup" }, requester));
      groupRows.set(requester, tr);
    }
    return tr;
  }

  function drawView() {
    const view = model.get("view");
    const counts = model.get("counts") || {};
    const total = model.get("total") || 0;
    const pending = counts.pending || 0;
    setText(title, `${model.get("owner")}: ${formatCount(pending)} pending`);
    if (filter.options.length === 0) {
      for (const status of STATUSES) filter.append(el("option", { value: status }));
    }
    const all = Object.values(counts).reduce((a, b) => a + b, 0);
    for (const option of filter.options) {
      const n = option.value === "all" ? all : counts[option.value] || 0;
      setText(option, `${statusLabel(option.value)} (${formatCount(n)})`);
    }
    if (filter.value !== view.status) filter.value = view.status;
    // Text typed but not yet sent (debouncing) is kept: a rows update may come meanwhile.
    const typing = searchTimer !== null;
    if (!typing && document.activeElement !== search && search.value !== view.query) search.value = view.query;
    groupBox.checked = view.group === "requester";
    for (const [key, { th, button }] of sortButtons) {
      const sorted = view.sort === key;
      setAttr(th, "aria-sort", sorted ? (view.desc ? "descending" : "ascending") : "none");
      setAttr(button, "title", `sort by ${button.textContent.toLowerCase()}`);
    }
    pager.show(view.offset, (model.get("rows") || []).length, view.limit, total);
  }

  function shownDecidable() {
    return [...state.rows.values()].filter((e) => DECIDABLE.has(e.job.status)).map((e) => e.job.uid);
  }

  function drawBulk() {
    const count = state.selected.size;
    setText(bulkCount, `${count} selected`);
    bulkApprove.disabled = count === 0 || ![...state.selected].some((uid) => state.rows.get(uid)?.job.status === "pending");
    bulkReject.disabled = count === 0;
    const decidable = shownDecidable();
    selectAll.checked = decidable.length > 0 && decidable.every((uid) => state.selected.has(uid));
    selectAll.indeterminate = count > 0 && !selectAll.checked;
    for (const entry of state.rows.values()) entry.cells.pick.checked = state.selected.has(entry.job.uid);
    if (state.prompt && !state.prompt.rowUid) {
      // A bulk prompt acts on the selection it was opened for; a changed selection ends it.
      const was = state.prompt.selection;
      const same = was.length === count && was.every((u) => state.selected.has(u));
      if (!same) closePrompt(false);
    }
  }

  function clearSelection() {
    state.selected.clear();
    drawBulk();
  }

  // Decisions: one prompt, for one decision; its text is gone once it is used or cancelled.

  function openPrompt(action, uids, bulkMode = false) {
    closePrompt(false);
    const jobs = uids.map((uid) => state.rows.get(uid)?.job).filter(Boolean);
    if (jobs.length === 0) return;
    const names = jobs.map((job) => quoted(job.name));
    const unread = action === "approve" && jobs.some((job) => job.unread);
    const what = jobs.length === 1 ? names[0] : `${jobs.length} jobs`;
    const verb = action === "approve" ? "Approve" : "Reject";
    const input = el("input", {
      type: "text",
      class: "scq-prompt-text",
      "aria-label": action === "approve" ? `Note on approving ${what} (optional)` : `Reason for rejecting ${what}`,
      placeholder:
        action === "approve"
          ? "note for the record (optional)"
          : "reason (the data scientist sees it; required)",
    });
    const confirm = el(
      "button",
      { type: "button", class: `scq-confirm ${action === "approve" ? "scq-primary" : "scq-danger"}` },
      `${verb} ${what}`,
    );
    const cancel = el("button", { type: "button", class: "scq-cancel" }, "Cancel");
    const box = el("div", { class: `scq-prompt scq-prompt-${action}`, role: "group", "aria-label": `${verb} ${what}` });
    if (jobs.length > 1) box.append(el("p", { class: "scq-prompt-names" }, `${verb}: ${names.join(", ")}`));
    let unreadBox = null;
    if (unread) {
      const unreadJobs = jobs.filter((job) => job.unread).map((job) => quoted(job.name));
      unreadBox = el("input", { type: "checkbox", class: "scq-unread-confirm", id: `${id}-unread` });
      box.append(
        el(
          "p",
          { class: "scq-prompt-warning" },
          `Not every file of ${unreadJobs.join(", ")} was read (files not viewed, or binary, too large or unreadable).`,
        ),
        el("label", { for: `${id}-unread` }, unreadBox, " Approve unread: I accept running files I have not read"),
      );
    }
    box.append(input, confirm, cancel);
    const update = () => {
      confirm.disabled =
        (action === "reject" && !input.value.trim()) || (unreadBox !== null && !unreadBox.checked);
    };
    input.addEventListener("input", update);
    if (unreadBox) unreadBox.addEventListener("change", update);
    update();
    const origin = document.activeElement;
    const decide = () => {
      if (confirm.disabled) return;
      const message = { action, uids: jobs.map((job) => job.uid) };
      if (action === "approve") {
        message.note = input.value.trim();
        message.unread = unreadBox !== null && unreadBox.checked;
      } else {
        message.reason = input.value.trim();
      }
      send(message);
      if (bulkMode) clearSelection();
      closePrompt(true);
    };
    confirm.addEventListener("click", decide);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") decide();
      if (event.key === "Escape") closePrompt(true);
    });
    cancel.addEventListener("click", () => closePrompt(true));
    let node;
    if (bulkMode) {
      node = box;
      bulkPrompt.replaceChildren(box);
    } else {
      node = el("tr", { class: "scq-prompt-row" }, el("td", { colspan: String(COLUMNS.length) }, box));
    }
    state.prompt = {
      action,
      uids: jobs.map((j) => j.uid),
      selection: [...state.selected],
      node,
      rowUid: bulkMode ? null : jobs[0].uid,
      origin,
    };
    if (!bulkMode) drawRows();
    input.focus();
  }

  function closePrompt(restoreFocus) {
    const prompt = state.prompt;
    if (!prompt) return;
    state.prompt = null;
    prompt.node.remove(); // its text goes with it: a reason belongs to one decision
    if (restoreFocus && prompt.origin && prompt.origin.isConnected) prompt.origin.focus();
  }

  // The open job: files like a pull request, run.sh first, with "viewed" ticks

  function toggleOpen(uid) {
    if (state.open === uid) {
      state.open = null;
      if (state.detailRow) state.detailRow.remove();
      state.detailRow = null;
      const entry = state.rows.get(uid);
      drawRows();
      if (entry) entry.cells.actions.querySelector(".scq-open")?.focus();
      return;
    }
    state.open = uid;
    state.detailRow = el(
      "tr",
      { class: "scq-detail", "data-uid": uid },
      el("td", { colspan: String(COLUMNS.length), id: `${id}-detail` }, el("div", { class: "scq-loading" }, "loading…")),
    );
    state.focusOnDetail = true;
    state.detailFor = null;
    send({ action: "open", uid });
    drawRows();
  }

  function drawDetail() {
    const detail = model.get("detail");
    if (!state.detailRow || !detail || detail.uid !== state.open) return;
    const cell = state.detailRow.firstElementChild;
    if (state.detailFor !== detail.uid) {
      state.detailFor = detail.uid;
      const heading = el("h3", { class: "scq-detail-title", tabindex: "-1" }, `Files of ${quoted(detail.name)}`);
      const files = el("ul", { class: "scq-files", "aria-label": `Files of ${quoted(detail.name)}` });
      const events = el("ol", { class: "scq-events" });
      for (const event of detail.events || []) {
        events.append(
          el(
            "li",
            {},
            timeNode(event.at),
            ` ${event.status} by ${event.actor}${event.detail ? `: ${event.detail}` : ""}`,
          ),
        );
      }
      const side = el(
        "div",
        { class: "scq-side" },
        heading,
        el("div", { class: "scq-description" }, detail.description || "(no description)"),
        files,
        el("div", { class: "scq-hash scq-mono scq-muted" }, `code sha256 ${detail.code_hash}`),
        el("details", {}, el("summary", {}, "history"), events),
        el(
          "details",
          { class: "scq-held" },
          el("summary", {}, "what an approval lets it do"),
          fillGuarantees(el("dl", { class: "scq-guarantees" }), detail.guarantees),
        ),
      );
      const viewer = el("div", { class: "scq-viewer" }, el("div", { class: "scq-muted" }, "choose a file to read it"));
      const main = el("div", { class: "scq-main" });
      if (detail.diff) {
        const diffPane = diffView(detail);
        const toChanges = el("button", { type: "button", class: "scq-mode-diff" }, "Changes");
        const toFiles = el("button", { type: "button", class: "scq-mode-files" }, "Full files");
        toChanges.addEventListener("click", () => setMode("diff"));
        toFiles.addEventListener("click", () => setMode("files"));
        main.append(
          el("div", { class: "scq-modes", role: "group", "aria-label": `View of ${quoted(detail.name)}` }, toChanges, toFiles),
          diffPane,
        );
      }
      main.append(viewer);
      cell.replaceChildren(el("div", { class: "scq-detail-body" }, side, main));
      state.mode = detail.diff ? detail.mode || "diff" : "files";
      for (const file of detail.files) {
        const flags = hintsText(file.hints);
        const button = el(
          "button",
          { type: "button", class: "scq-file-button", "data-path": file.path },
          el("span", { class: "scq-file-name" }, file.path),
          el(
            "span",
            { class: "scq-file-size" },
            file.risk ? el("span", { class: "scq-file-risk" }, "⚠ ") : null,
            formatBytes(file.size),
          ),
        );
        const meta = [file.change, flags].filter(Boolean).join(" · ");
        const item = meta ? el("span", { class: "scq-file-meta" }, meta) : null;
        if (item && file.hints && (file.hints.warn || file.hints.unparsed.length)) item.classList.add("scq-hints-warn");
        if (file.risk) setAttr(button, "title", `${file.path} is ${file.risk}`);
        button.addEventListener("click", () => {
          setMode("files", false);
          send({ action: "file", uid: detail.uid, path: file.path });
        });
        button.addEventListener("keydown", (event) => moveBetweenFiles(event, files));
        const tick = el("input", {
          type: "checkbox",
          class: "scq-viewed",
          "aria-label": `Viewed ${file.path}`,
          title: "viewed",
        });
        tick.addEventListener("change", () =>
          send({ action: "viewed", uid: detail.uid, path: file.path, viewed: tick.checked }),
        );
        tick.addEventListener("keydown", (event) => moveBetweenFiles(event, files));
        setAttr(button, "aria-describedby", `${id}-files-keys`);
        setAttr(tick, "aria-describedby", `${id}-files-keys`);
        files.append(el("li", { class: "scq-file", "data-path": file.path }, tick, button, item));
      }
      files.after(
        el(
          "p",
          { class: "scq-visually-hidden", id: `${id}-files-keys` },
          "Up and down arrows: the next file. Left and right arrows: its viewed tick.",
        ),
      );
      rovingFiles(files);
      if (state.focusOnDetail) {
        state.focusOnDetail = false;
        heading.focus();
      }
      cell.addEventListener("keydown", (event) => {
        if (event.key === "Escape") toggleOpen(detail.uid);
      });
    }
    const viewed = new Set(detail.viewed || []);
    for (const tick of cell.querySelectorAll(".scq-viewed")) {
      tick.checked = viewed.has(tick.parentNode.dataset.path);
    }
    drawMode();
    drawFile();
  }

  // Review by difference: the changed files first, each as its unified diff

  function diffView(detail) {
    const { diff } = detail;
    const pane = el("div", { class: "scq-diff-view", role: "region", "aria-label": `Changes of ${quoted(detail.name)}` });
    pane.append(el("div", { class: "scq-diff-summary" }, diff.summary));
    const unchanged = [];
    for (const file of diff.files) {
      if (file.change === "unchanged") {
        unchanged.push(file.path);
        continue;
      }
      const head = el(
        "div",
        { class: "scq-diff-head" },
        el("span", { class: "scq-diff-path" }, file.path),
        el("span", { class: `scq-change scq-change-${file.change}` }, file.change),
      );
      if (file.change !== "removed") {
        const show = el("button", { type: "button", class: "scq-link scq-show-file", "aria-label": `Show all of ${file.path}` }, "show file");
        show.addEventListener("click", () => {
          setMode("files", false);
          send({ action: "file", uid: detail.uid, path: file.path });
        });
        head.append(show);
      }
      const section = el("section", { class: "scq-diff-file", "data-path": file.path, "data-change": file.change }, head);
      if (file.diff) {
        const code = el("pre", { class: "scq-code scq-diff", tabindex: "0", role: "region", "aria-label": `changes to ${file.path}` });
        for (const line of file.diff.replace(/\n$/, "").split("\n")) {
          let kind = "";
          if (line.startsWith("@@")) kind = "scq-diff-hunk";
          else if (line.startsWith("+++") || line.startsWith("---")) kind = "scq-diff-meta";
          else if (line.startsWith("+")) kind = "scq-diff-add";
          else if (line.startsWith("-")) kind = "scq-diff-del";
          code.append(el("span", { class: `scq-diff-line ${kind}` }, line), "\n");
        }
        section.append(code);
      }
      if (file.note || file.truncated) {
        section.append(el("div", { class: "scq-muted scq-diff-note" }, [file.note, file.truncated ? "diff cut short" : ""].filter(Boolean).join("; ")));
      }
      pane.append(section);
    }
    if (unchanged.length) {
      const list = el("ul", { class: "scq-unchanged", "aria-label": "Unchanged files" });
      for (const path of unchanged) {
        list.append(el("li", { "data-path": path }, el("span", { class: "scq-diff-path" }, path), " unchanged"));
      }
      pane.append(list);
    }
    return pane;
  }

  function setMode(mode, openFirst = true) {
    state.mode = mode;
    drawMode();
    if (mode !== "files" || !openFirst) return;
    const detail = model.get("detail");
    const file = model.get("file");
    if (detail && detail.files.length && (!file || file.uid !== detail.uid)) {
      send({ action: "file", uid: detail.uid, path: detail.files[0].path });
    }
  }

  function drawMode() {
    if (!state.detailRow) return;
    const pane = state.detailRow.querySelector(".scq-diff-view");
    const viewer = state.detailRow.querySelector(".scq-viewer");
    if (!pane || !viewer) return;
    pane.hidden = state.mode !== "diff";
    viewer.hidden = state.mode === "diff";
    for (const button of state.detailRow.querySelectorAll(".scq-modes button")) {
      const mine = button.classList.contains(`scq-mode-${state.mode}`);
      setAttr(button, "aria-pressed", mine ? "true" : "false");
    }
  }

  // Flagged lines: a mark in the gutter, the message as text (hover and screen readers)

  function markHints(code, hints) {
    const lines = code.querySelectorAll(":scope > .scq-line");
    const byLine = new Map();
    for (const hint of hints) {
      if (!byLine.has(hint.line)) byLine.set(hint.line, []);
      byLine.get(hint.line).push(hint);
    }
    for (const [number, found] of byLine) {
      const line = lines[number - 1];
      if (!line) continue;
      const severity = found.some((h) => h.severity === "warn") ? "warn" : "look";
      const said = found.map((h) => `${h.severity}: ${h.message}`).join("; ");
      line.classList.add("scq-flag", `scq-flag-${severity}`);
      line.dataset.hint = said;
      setAttr(line, "title", said);
      line.append(el("span", { class: "scq-visually-hidden" }, ` (flagged ${said})`));
    }
  }

  function hintList(file) {
    const list = el("ul", { class: "scq-hint-list", "aria-label": `Flagged lines in ${file.path}` });
    for (const hint of file.hints) {
      list.append(
        el(
          "li",
          { class: `scq-hint scq-hint-${hint.severity}`, "data-line": String(hint.line) },
          el("span", { class: "scq-hint-severity" }, hint.severity),
          ` line ${hint.line}: ${hint.message}`,
          hint.text ? el("code", { class: "scq-hint-text" }, hint.text) : null,
        ),
      );
    }
    return list;
  }

  // The file list is one tab stop (a roving tabindex): up and down move between files (a
  // file button moved to opens its file), left and right between a file and its tick.
  function moveBetweenFiles(event, list) {
    const items = [...list.querySelectorAll(".scq-file")];
    const here = event.currentTarget;
    const at = items.indexOf(here.closest(".scq-file"));
    let onTick = here.classList.contains("scq-viewed");
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") onTick = event.key === "ArrowLeft";
    else if (to === undefined) return;
    event.preventDefault();
    const item = items[Math.max(0, Math.min(items.length - 1, to === undefined ? at : to))];
    const target = item.querySelector(onTick ? ".scq-viewed" : ".scq-file-button");
    roveTo(list, target);
    target.focus();
    if (!onTick && target !== here && to !== undefined) target.click();
  }

  function roveTo(list, target) {
    for (const control of list.querySelectorAll(".scq-viewed, .scq-file-button")) {
      setAttr(control, "tabindex", control === target ? "0" : "-1");
    }
  }

  function rovingFiles(list) {
    const first = list.querySelector(".scq-file-button");
    if (first) roveTo(list, first);
    // a click (or a file opened another way) moves the tab stop too
    list.addEventListener("focusin", (event) => {
      if (event.target.matches(".scq-viewed, .scq-file-button")) roveTo(list, event.target);
    });
  }

  function drawFile() {
    const file = model.get("file");
    if (!state.detailRow || !file || file.uid !== state.open) return;
    const viewer = state.detailRow.querySelector(".scq-viewer");
    if (!viewer) return;
    for (const button of state.detailRow.querySelectorAll(".scq-file-button")) {
      setAttr(button, "aria-current", button.dataset.path === file.path ? "true" : null);
    }
    const key = `${file.uid}/${file.path}/${file.size}/${file.lines}`;
    if (viewer.dataset.key === key) return; // the same file: keep its scroll position
    viewer.dataset.key = key;
    const head = el(
      "div",
      { class: "scq-viewer-head" },
      el("span", { class: "scq-viewer-path" }, file.path),
      el(
        "span",
        { class: "scq-viewer-size scq-muted" },
        `${formatBytes(file.size)}${file.binary ? " · binary" : ` · ${formatCount(file.lines)} lines`}`,
      ),
    );
    const parts = [head];
    if (file.binary) {
      parts.push(
        el("div", { class: "scq-warning", role: "note" }, file.warning),
        el("div", { class: "scq-muted" }, "first bytes (hex)"),
        el("pre", { class: "scq-code scq-hex", tabindex: "0", role: "region", "aria-label": `first bytes of ${file.path}` }, file.hex),
        el("div", { class: "scq-muted" }, "text found in it"),
        el("pre", { class: "scq-code scq-strings", tabindex: "0", role: "region", "aria-label": `text in ${file.path}` }, (file.strings || []).join("\n")),
      );
    } else {
      if (file.truncated) {
        parts.push(
          el(
            "div",
            { class: "scq-warning", role: "note" },
            `Large file: only the first ${formatCount(file.shown_lines)} of ${formatCount(file.lines)} lines are shown. It runs whole.`,
          ),
        );
      }
      const code = el("pre", { class: "scq-code", tabindex: "0", role: "region", "aria-label": `code of ${file.path}` });
      code.innerHTML = file.html; // escaped by viewer.py, see the top of this file
      markHints(code, file.hints || []);
      parts.push(code);
    }
    if ((file.hints || []).length) parts.push(hintList(file));
    viewer.replaceChildren(...parts);
  }

  // Events

  filter.addEventListener("change", () => setView({ status: filter.value, offset: 0, desc: filter.value !== "pending" }));
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearSelection(); // what is selected may be hidden by the search: never act on it
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      searchTimer = null;
      setView({ query: search.value.trim(), offset: 0 });
    }, SEARCH_DEBOUNCE_MS);
  });
  groupBox.addEventListener("change", () => setView({ group: groupBox.checked ? "requester" : "", offset: 0 }));
  refresh.addEventListener("click", () => send({ action: "refresh" }));
  selectAll.addEventListener("change", () => {
    for (const uid of shownDecidable()) {
      if (selectAll.checked) state.selected.add(uid);
      else state.selected.delete(uid);
    }
    drawBulk();
  });
  bulkApprove.addEventListener("click", () =>
    openPrompt(
      "approve",
      [...state.selected].filter((uid) => state.rows.get(uid)?.job.status === "pending"),
      true,
    ),
  );
  bulkReject.addEventListener("click", () => openPrompt("reject", [...state.selected], true));

  function drawNotice() {
    const value = model.get("notice");
    setText(notice, value && value.text ? value.text : "");
    notice.className = `scq-notice ${value && value.kind ? `scq-notice-${value.kind}` : ""}`;
  }

  const handlers = {
    "change:rows": drawRows,
    "change:total": drawView,
    "change:counts": drawView,
    "change:view": drawRows,
    "change:detail": drawDetail,
    "change:file": drawFile,
    "change:notice": drawNotice,
  };
  for (const [name, handler] of Object.entries(handlers)) model.on(name, handler);
  const timer = setInterval(() => refreshTimes(root), 30000);
  drawRows();
  drawNotice();
  // The kernel follows the server only while a view is shown (see ReviewWidget._view_shown).
  sendQuietly(model, { action: "view", shown: true });
  return () => {
    sendQuietly(model, { action: "view", shown: false });
    clearInterval(timer);
    clearTimeout(searchTimer);
    releaseKeys();
    for (const [name, handler] of Object.entries(handlers)) model.off(name, handler);
    results.dispose();
    tabs.dispose();
  };
}

// The data scientist's live status cell

const STEPS = [
  ["created_at", "submitted"],
  ["received_at", "received"],
  ["decided_at", "decided"],
  ["started_at", "started"],
  ["completed_at", "ended"],
];

function elapsed(job, now) {
  if (!job.started_at) return "";
  const end = job.completed_at ? new Date(job.completed_at) : now;
  return formatDuration((end - new Date(job.started_at)) / 1000);
}

// An output is a link named by its path: a click fetches its bytes from the kernel (the
// folder is on the kernel's machine, not necessarily under the Jupyter server's root) and
// the browser saves them under the file's name; later clicks save the same bytes again.
function outputNode(output, download, jobName) {
  const link = el(
    "a",
    {
      class: "scq-output-name scq-mono",
      href: "#",
      download: output.path.split("/").pop(),
      title: `download ${output.path}`,
      "aria-label": `Download ${quoted(output.path)} of ${quoted(jobName)}`,
    },
    output.path,
  );
  if (download) link.addEventListener("click", (event) => download(event, link));
  const item = el(
    "li",
    { class: "scq-output", "data-path": output.path },
    link,
    el("span", { class: "scq-muted" }, ` ${formatBytes(output.size)}`),
  );
  if (output.kind === "image" && output.src && output.src.startsWith("data:image/")) {
    item.append(el("img", { src: output.src, alt: output.path }));
  } else if (output.kind === "table" && output.rows) {
    const [head, ...body] = output.rows;
    const table = el("table", { class: "scq-preview" });
    if (head) table.append(el("thead", {}, el("tr", {}, ...head.map((c) => el("th", { scope: "col" }, c)))));
    table.append(el("tbody", {}, ...body.map((row) => el("tr", {}, ...row.map((c) => el("td", {}, c))))));
    item.append(table);
  } else if (output.kind === "text" && output.text) {
    item.append(el("pre", { class: "scq-text-preview" }, output.text));
  }
  return item;
}

function renderStatus({ model, el: root }) {
  root.classList.add("scq-widget", "scq-status");
  const releaseKeys = keepKeysInWidget(root);
  const title = el("span", { class: "scq-title" });
  const watching = el("span", { class: "scq-watching", "aria-live": "polite" });
  const refresh = el("button", { class: "scq-refresh", type: "button" }, "Refresh");
  refresh.addEventListener("click", () => model.send({ action: "refresh" }));
  const head = el("div", { class: "scq-header" }, title, watching, refresh);
  const problem = el("div", { class: "scq-notice scq-notice-error", role: "status" });
  const list = el("div", { class: "scq-jobs" });
  const emptyNote = el("div", { class: "scq-empty scq-muted" }, "no jobs yet");
  root.append(head, problem, list, emptyNote);
  const cards = new Map(); // uid -> {node, parts, job}
  // A log drawn before the cell is on the page has no height yet: once it has one (the
  // widget shown, a font loaded), a following log goes to its end.
  const logSizes = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const card = [...cards.values()].find((c) => c.parts.log === entry.target);
      if (card && card.follow) entry.target.scrollTop = entry.target.scrollHeight;
    }
  });

  function makeCard(job) {
    const parts = {
      badge: statusBadge(job.status),
      name: el("span", { class: "scq-name" }),
      target: el("span", { class: "scq-target" }),
      elapsed: el("span", { class: "scq-elapsed" }),
      id: el("code", { class: "scq-id" }),
      note: el("div", { class: "scq-note", role: "status", hidden: "" }),
      reason: el("div", { class: "scq-reason", role: "alert", hidden: "" }),
      exit: el("div", { class: "scq-exit", hidden: "" }),
      stderr: el("pre", { class: "scq-stderr", hidden: "", tabindex: "0", role: "region", "aria-label": "end of stderr" }),
      times: el("dl", { class: "scq-times" }),
      outputsHead: el("div", { class: "scq-outputs-head", hidden: "" }, "outputs"),
      outputs: el("ul", { class: "scq-outputs" }),
      log: el("pre", { class: "scq-log", hidden: "", tabindex: "0", role: "region", "aria-label": "log" }),
      held: el("details", { class: "scq-held", hidden: "" }, el("summary", {}, "what the job was held to")),
      heldList: el("dl", { class: "scq-guarantees" }),
    };
    parts.held.append(parts.heldList);
    const node = el(
      "div",
      { class: "scq-card", "data-uid": job.uid },
      el("div", { class: "scq-card-head" }, parts.badge, parts.name, parts.target, parts.elapsed, parts.id),
      parts.note,
      parts.reason,
      parts.exit,
      parts.stderr,
      parts.times,
      parts.outputsHead,
      parts.outputs,
      parts.log,
      parts.held,
    );
    const card = { node, parts, job: null, outputsKey: null, heldKey: null, timesKey: null, follow: true };
    parts.log.addEventListener("scroll", () => {
      const box = parts.log;
      card.follow = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    });
    logSizes.observe(parts.log);
    return card;
  }

  function patchCard(card, job, log) {
    const { parts } = card;
    card.job = job;
    card.node.className = `scq-card scq-status-${job.status}`;
    setBadge(parts.badge, job.status);
    setText(parts.name, job.name);
    setText(parts.target, `→ ${job.target}`);
    setText(parts.elapsed, elapsed(job, new Date()));
    setText(parts.id, job.short_id);
    setAttr(parts.id, "title", job.uid);
    // "ran; results under review", or the withheld files with the owner's reason
    setText(parts.note, job.note || "");
    parts.note.hidden = !job.note;
    const failed = job.error ? `${job.status === "rejected" ? "Rejected" : "Failed"}: ${job.error}` : "";
    const reason = job.note && job.error && job.note.includes(job.error) ? "" : failed;
    setText(parts.reason, reason);
    parts.reason.hidden = !reason;
    const exit = job.exit_code !== null && job.exit_code !== undefined ? `exit code ${job.exit_code}` : "";
    setText(parts.exit, exit);
    parts.exit.hidden = !exit;
    setText(parts.stderr, job.stderr || "");
    parts.stderr.hidden = !job.stderr;
    const timesKey = STEPS.map(([key]) => job[key]).join("|");
    if (card.timesKey !== timesKey) {
      card.timesKey = timesKey;
      parts.times.replaceChildren();
      for (const [key, label] of STEPS) {
        if (job[key]) parts.times.append(el("dt", {}, label), el("dd", {}, timeNode(job[key])));
      }
    }
    const outputsKey = JSON.stringify(job.outputs || []);
    if (card.outputsKey !== outputsKey) {
      card.outputsKey = outputsKey;
      forgetDownloads(parts.outputs);
      parts.outputs.replaceChildren(
        ...(job.outputs || []).map((output) =>
          outputNode(output, (event, link) => download(event, link, job.uid, output.path), job.name),
        ),
      );
      setAttr(parts.outputs, "title", job.output_folder || "");
      parts.outputsHead.hidden = !(job.outputs || []).length;
    }
    // The log follows its end unless the reader scrolled up (card.follow, kept by its scroll
    // events); the card is in the page by now, so its heights are real.
    const box = parts.log;
    if (box.textContent !== (log || "")) box.textContent = log || "";
    box.hidden = !log;
    if (!box.hidden && card.follow) box.scrollTop = box.scrollHeight;
    const heldKey = JSON.stringify(job.guarantees || null);
    if (card.heldKey !== heldKey) {
      card.heldKey = heldKey;
      fillGuarantees(parts.heldList, job.guarantees);
      parts.held.hidden = !job.guarantees;
    }
  }

  function draw() {
    const jobs = model.get("jobs") || [];
    const logs = model.get("logs") || {};
    setText(title, model.get("single") ? "job status" : `my jobs (${jobs.length})`);
    setText(watching, model.get("watching") ? "following…" : "up to date");
    setText(problem, model.get("problem") || "");
    const seen = new Set();
    let index = 0;
    for (const job of jobs) {
      let card = cards.get(job.uid);
      if (!card) {
        card = makeCard(job);
        cards.set(job.uid, card);
      }
      if (list.children[index] !== card.node) list.insertBefore(card.node, list.children[index] || null);
      patchCard(card, job, logs[job.uid]);
      seen.add(job.uid);
      index += 1;
    }
    for (const [uid, card] of cards) {
      if (!seen.has(uid)) {
        card.node.remove();
        cards.delete(uid);
      }
    }
    emptyNote.hidden = jobs.length > 0;
  }

  // Downloads: the bytes come in a custom message with one buffer, saved through a blob URL
  const asked = new Map(); // request number -> link
  let requests = 0;

  function download(event, link, uid, path) {
    if (link.dataset.ready) return; // the bytes are here: the link saves them
    event.preventDefault();
    if (link.getAttribute("aria-busy") === "true") return;
    requests += 1;
    asked.set(requests, link);
    setAttr(link, "aria-busy", "true");
    link.parentNode.querySelector(".scq-output-error")?.remove();
    model.send({ action: "download", uid, path, request: requests });
  }

  function onMessage(message, buffers) {
    if (!message || message.kind !== "download") return;
    const link = asked.get(message.request);
    asked.delete(message.request);
    if (!link || !link.isConnected) return;
    setAttr(link, "aria-busy", null);
    if (!message.ok) {
      link.after(el("span", { class: "scq-output-error", role: "alert" }, ` ${message.error}`));
      return;
    }
    link.href = URL.createObjectURL(new Blob(buffers || [], { type: message.type }));
    link.dataset.ready = "1";
    link.click();
  }

  function forgetDownloads(node) {
    for (const link of node.querySelectorAll("a[data-ready]")) URL.revokeObjectURL(link.href);
  }

  function tick() {
    for (const card of cards.values()) {
      if (card.job && card.job.started_at && !card.job.completed_at) {
        setText(card.parts.elapsed, elapsed(card.job, new Date()));
      }
    }
  }

  let ticks = 0;
  const timer = setInterval(() => {
    tick();
    ticks += 1;
    if (ticks % 30 === 0) refreshTimes(root);
  }, 1000);
  const names = ["jobs", "logs", "watching", "problem"];
  for (const name of names) model.on(`change:${name}`, draw);
  model.on("msg:custom", onMessage);
  draw();
  sendQuietly(model, { action: "view", shown: true }); // polls only while a view is shown
  return () => {
    sendQuietly(model, { action: "view", shown: false });
    clearInterval(timer);
    releaseKeys();
    model.off("msg:custom", onMessage);
    forgetDownloads(list);
    logSizes.disconnect();
    for (const name of names) model.off(`change:${name}`, draw);
  };
}

export default {
  render(context) {
    return context.model.get("kind") === "review" ? renderReview(context) : renderStatus(context);
  },
};
