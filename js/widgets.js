// The front end of syft-code-queue's widgets: the data owner's review table and the data
// scientist's live status cell. Plain ESM, no dependencies, no network.
//
// Everything user-supplied is set as text (textContent), never as markup; the one exception
// is the file viewer's highlighted code, which is Pygments' output made on the Python side,
// where the file's text is escaped.

// DOM helpers

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
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

function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function fillGuarantees(list, guarantees) {
  for (const [name, text] of Object.entries(guarantees || {})) {
    const dd = el("dd", {}, text);
    if (text.startsWith("NOT ENFORCED")) dd.classList.add("scq-not-enforced");
    list.append(el("dt", {}, name.replaceAll("_", " ")), dd);
  }
  return list;
}

function statusBadge(status) {
  return el("span", { class: `scq-badge scq-badge-${status}`, "data-status": status }, status);
}

// The data owner's review table

const PAGE = 200;
const STATUSES = ["all", "pending", "approved", "running", "awaiting_release", "completed", "failed", "rejected"];

function matches(job, filter, query) {
  if (filter !== "all" && job.status !== filter) return false;
  if (!query) return true;
  const haystack = [job.name, job.requester, job.uid, ...(job.tags || [])]
    .join("\n")
    .toLowerCase();
  return haystack.includes(query);
}

function renderReview({ model, el: root }) {
  const state = { filter: "pending", query: "", shown: PAGE, selected: new Set(), open: null };
  root.classList.add("scq-widget", "scq-review");

  const filter = el("select", { class: "scq-filter", "aria-label": "status" });
  for (const status of STATUSES) filter.append(el("option", { value: status }, status));
  filter.value = state.filter;
  const search = el("input", {
    class: "scq-search",
    type: "search",
    placeholder: "search name, requester, tag, id",
    "aria-label": "search",
  });
  const refresh = el("button", { class: "scq-refresh", type: "button" }, "Refresh");
  const title = el("div", { class: "scq-title" });
  const header = el("div", { class: "scq-header" }, title, filter, search, refresh);

  const selectAll = el("input", { type: "checkbox", class: "scq-select-all", title: "select all shown" });
  const reason = el("input", {
    class: "scq-reason",
    type: "text",
    placeholder: "reason (shown to the data scientist; needed to reject)",
    "aria-label": "reason",
  });
  const bulkApprove = el("button", { class: "scq-bulk-approve", type: "button" }, "Approve selected");
  const bulkReject = el("button", { class: "scq-bulk-reject", type: "button" }, "Reject selected");
  const bulk = el("div", { class: "scq-bulk" }, selectAll, bulkApprove, reason, bulkReject);

  const notice = el("div", { class: "scq-notice", role: "status" });
  const tbody = el("tbody");
  const table = el(
    "table",
    { class: "scq-table" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["", "status", "name", "requester", "submitted", "files", "tags", ""].map((h) => el("th", {}, h)),
      ),
    ),
    tbody,
  );
  const more = el("button", { class: "scq-more", type: "button" }, "Show more");
  root.append(header, bulk, notice, table, more);

  function send(message) {
    model.send(message);
  }

  function visible() {
    return model.get("jobs").filter((job) => matches(job, state.filter, state.query));
  }

  function decide(action, uids) {
    if (uids.length === 0) return;
    send({ action, uids, reason: reason.value });
  }

  function actionButtons(job) {
    const cell = el("td", { class: "scq-actions" });
    const open = el("button", { class: "scq-open", type: "button" }, state.open === job.uid ? "Close" : "Open");
    open.addEventListener("click", () => {
      state.open = state.open === job.uid ? null : job.uid;
      if (state.open) send({ action: "open", uid: job.uid });
      draw();
    });
    cell.append(open);
    if (job.status === "pending") {
      const approve = el("button", { class: "scq-approve", type: "button" }, "Approve");
      approve.addEventListener("click", () => decide("approve", [job.uid]));
      cell.append(approve);
    }
    if (job.status === "pending" || job.status === "approved") {
      const reject = el("button", { class: "scq-reject", type: "button" }, "Reject");
      reject.addEventListener("click", () => decide("reject", [job.uid]));
      cell.append(reject);
    }
    return cell;
  }

  function row(job) {
    const pick = el("input", { type: "checkbox", class: "scq-select", "aria-label": "select" });
    pick.checked = state.selected.has(job.uid);
    pick.disabled = job.status !== "pending" && job.status !== "approved";
    pick.addEventListener("change", () => {
      if (pick.checked) state.selected.add(job.uid);
      else state.selected.delete(job.uid);
      drawBulk();
    });
    const message = job.error || job.reason;
    const name = el("td", { class: "scq-name" }, el("span", {}, job.name));
    if (message) name.append(el("div", { class: "scq-message" }, message));
    const tr = el(
      "tr",
      { class: `scq-row scq-status-${job.status}`, "data-uid": job.uid },
      el("td", {}, pick),
      el("td", {}, statusBadge(job.status)),
      name,
      el("td", { class: "scq-requester" }, job.requester),
      el("td", { title: job.created_at || "" }, formatTime(job.created_at)),
      el("td", {}, `${job.files} · ${formatBytes(job.bytes)}`),
      el("td", { class: "scq-tags" }, (job.tags || []).join(", ")),
      actionButtons(job),
    );
    return tr;
  }

  function detailRow(job) {
    const detail = model.get("detail");
    const cell = el("td", { colspan: "8" });
    const tr = el("tr", { class: "scq-detail", "data-uid": job.uid }, cell);
    if (!detail || detail.uid !== job.uid) {
      cell.append(el("div", { class: "scq-loading" }, "loading…"));
      return tr;
    }
    const info = el(
      "div",
      { class: "scq-info" },
      el("div", { class: "scq-description" }, detail.description || "(no description)"),
      el("div", { class: "scq-hash" }, `code sha256 ${detail.code_hash}`),
    );
    const tree = el("ul", { class: "scq-files" });
    const current = model.get("file");
    for (const file of detail.files) {
      const depth = file.path.split("/").length - 1;
      const item = el(
        "li",
        { class: "scq-file", "data-path": file.path, style: `padding-left: ${depth * 1.2}em` },
        el("span", { class: "scq-file-name" }, file.path),
        el("span", { class: "scq-file-size" }, formatBytes(file.size)),
      );
      if (current && current.uid === job.uid && current.path === file.path) item.classList.add("scq-current");
      item.addEventListener("click", () => send({ action: "file", uid: job.uid, path: file.path }));
      tree.append(item);
    }
    const events = el("ol", { class: "scq-events" });
    for (const event of detail.events || []) {
      events.append(
        el("li", {}, `${formatTime(event.at)} ${event.status} by ${event.actor}${event.detail ? `: ${event.detail}` : ""}`),
      );
    }
    const guarantees = el("dl", { class: "scq-guarantees", title: "what an approval lets this code do here" });
    fillGuarantees(guarantees, detail.guarantees);
    const viewer = el("div", { class: "scq-viewer" });
    if (current && current.uid === job.uid && current.path) {
      viewer.append(
        el(
          "div",
          { class: "scq-viewer-head" },
          el("span", { class: "scq-viewer-path" }, current.path),
          ` ${formatBytes(current.size)}${current.binary ? "" : ` · ${current.lines} lines`}`,
        ),
      );
      if (current.binary) {
        viewer.append(el("div", { class: "scq-viewer-note" }, "binary file: not shown"));
      } else {
        if (current.truncated) {
          viewer.append(el("div", { class: "scq-viewer-note" }, "large file: only the beginning is shown"));
        }
        const code = el("div", { class: "scq-code" });
        code.innerHTML = current.html; // Pygments' escaped output, see the top of this file
        viewer.append(code);
      }
    } else {
      viewer.append(el("div", { class: "scq-viewer-note" }, "choose a file to read it"));
    }
    cell.append(
      el("div", { class: "scq-detail-body" }, el("div", { class: "scq-side" }, info, tree, events, guarantees), viewer),
    );
    return tr;
  }

  function drawBulk() {
    const jobs = new Map(model.get("jobs").map((job) => [job.uid, job]));
    for (const uid of [...state.selected]) {
      const job = jobs.get(uid);
      if (!job || (job.status !== "pending" && job.status !== "approved")) state.selected.delete(uid);
    }
    const count = state.selected.size;
    bulkApprove.textContent = `Approve selected (${count})`;
    bulkReject.textContent = `Reject selected (${count})`;
    bulkApprove.disabled = count === 0;
    bulkReject.disabled = count === 0;
  }

  function draw() {
    const jobs = model.get("jobs");
    const pending = jobs.filter((job) => job.status === "pending").length;
    title.textContent = `${model.get("owner")}: ${pending} pending of ${jobs.length} listed`;
    const shown = visible();
    tbody.replaceChildren();
    for (const job of shown.slice(0, state.shown)) {
      tbody.append(row(job));
      if (state.open === job.uid) tbody.append(detailRow(job));
    }
    if (shown.length === 0) {
      tbody.append(el("tr", { class: "scq-empty" }, el("td", { colspan: "8" }, "no jobs here")));
    }
    more.hidden = shown.length <= state.shown;
    more.textContent = `Show more (${shown.length - state.shown} hidden)`;
    drawBulk();
  }

  function drawNotice() {
    const value = model.get("notice");
    notice.textContent = value && value.text ? value.text : "";
    notice.className = `scq-notice ${value && value.kind ? `scq-notice-${value.kind}` : ""}`;
  }

  filter.addEventListener("change", () => {
    state.filter = filter.value;
    state.shown = PAGE;
    draw();
  });
  search.addEventListener("input", () => {
    state.query = search.value.trim().toLowerCase();
    state.shown = PAGE;
    draw();
  });
  refresh.addEventListener("click", () => send({ action: "refresh" }));
  more.addEventListener("click", () => {
    state.shown += PAGE;
    draw();
  });
  selectAll.addEventListener("change", () => {
    for (const job of visible().slice(0, state.shown)) {
      if (job.status !== "pending" && job.status !== "approved") continue;
      if (selectAll.checked) state.selected.add(job.uid);
      else state.selected.delete(job.uid);
    }
    draw();
  });
  function decideSelected(action) {
    decide(action, [...state.selected]);
    state.selected.clear(); // the notice tells which ones did not go through
    selectAll.checked = false;
    draw();
  }
  bulkApprove.addEventListener("click", () => decideSelected("approve"));
  bulkReject.addEventListener("click", () => decideSelected("reject"));

  model.on("change:jobs", draw);
  model.on("change:detail", draw);
  model.on("change:file", draw);
  model.on("change:notice", drawNotice);
  draw();
  drawNotice();
  return () => {
    model.off("change:jobs", draw);
    model.off("change:detail", draw);
    model.off("change:file", draw);
    model.off("change:notice", drawNotice);
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

function renderStatus({ model, el: root }) {
  root.classList.add("scq-widget", "scq-status");
  const head = el("div", { class: "scq-header" });
  const list = el("div", { class: "scq-jobs" });
  const problem = el("div", { class: "scq-notice scq-notice-error", role: "status" });
  root.append(head, problem, list);

  function card(job, logs) {
    const times = el("dl", { class: "scq-times" });
    for (const [key, label] of STEPS) {
      if (job[key]) times.append(el("dt", {}, label), el("dd", { title: job[key] }, formatTime(job[key])));
    }
    const node = el(
      "div",
      { class: `scq-card scq-status-${job.status}`, "data-uid": job.uid },
      el(
        "div",
        { class: "scq-card-head" },
        statusBadge(job.status),
        el("span", { class: "scq-name" }, job.name),
        el("span", { class: "scq-target" }, `→ ${job.target}`),
        el("span", { class: "scq-elapsed" }, elapsed(job, new Date())),
        el("code", { class: "scq-id", title: job.uid }, job.short_id),
      ),
      times,
    );
    if (job.note) node.append(el("div", { class: "scq-message scq-note" }, job.note));
    if (job.error && !(job.note || "").includes(job.error)) node.append(el("div", { class: "scq-message" }, job.error));
    if (job.exit_code !== null && job.exit_code !== undefined) {
      node.append(el("div", { class: "scq-exit" }, `exit code ${job.exit_code}`));
    }
    if (job.outputs && job.outputs.length) {
      const outputs = el("ul", { class: "scq-outputs", title: job.output_folder || "" });
      for (const name of job.outputs) outputs.append(el("li", { class: "scq-output" }, name));
      node.append(el("div", { class: "scq-outputs-head" }, "outputs"), outputs);
    }
    if (logs) node.append(el("pre", { class: "scq-log" }, logs));
    if (job.guarantees) {
      const held = fillGuarantees(el("dl", { class: "scq-guarantees" }), job.guarantees);
      node.append(el("details", { class: "scq-held" }, el("summary", {}, "what the job was held to"), held));
    }
    return node;
  }

  function draw() {
    const jobs = model.get("jobs");
    const logs = model.get("logs") || {};
    const watching = model.get("watching");
    const refresh = el("button", { class: "scq-refresh", type: "button" }, "Refresh");
    refresh.addEventListener("click", () => model.send({ action: "refresh" }));
    head.replaceChildren(
      el("span", { class: "scq-title" }, model.get("single") ? "job status" : `my jobs (${jobs.length})`),
      el("span", { class: "scq-watching" }, watching ? "following…" : "up to date"),
      refresh,
    );
    problem.textContent = model.get("problem") || "";
    list.replaceChildren(...jobs.map((job) => card(job, logs[job.uid])));
    if (jobs.length === 0) list.append(el("div", { class: "scq-empty" }, "no jobs yet"));
  }

  function tick() {
    const jobs = model.get("jobs");
    for (const node of list.querySelectorAll(".scq-card")) {
      const job = jobs.find((j) => j.uid === node.dataset.uid);
      const span = node.querySelector(".scq-elapsed");
      if (job && span && job.started_at && !job.completed_at) span.textContent = elapsed(job, new Date());
    }
  }

  const timer = setInterval(tick, 1000);
  for (const name of ["jobs", "logs", "watching", "problem"]) model.on(`change:${name}`, draw);
  draw();
  return () => {
    clearInterval(timer);
    for (const name of ["jobs", "logs", "watching", "problem"]) model.off(`change:${name}`, draw);
  };
}

export default {
  render(context) {
    return context.model.get("kind") === "review" ? renderReview(context) : renderStatus(context);
  },
};
