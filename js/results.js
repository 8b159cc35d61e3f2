// The data owner's results view (release="manual"): jobs whose results await release, the
// output checks' report per held file, and Release selected / Withhold. Plain ESM, no
// dependencies, no network. Everything shown is set as text, never as markup.

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
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function badge(severity, count) {
  return el("span", { class: `scq-badge scq-badge-${severity}`, "data-severity": severity }, `${count} ${severity}`);
}

function preview(view) {
  if (!view) return null;
  if (view.kind === "table") {
    const table = el("table", { class: "scq-table scq-preview" });
    table.append(el("tr", {}, ...(view.header || []).map((h) => el("th", {}, h))));
    for (const row of view.rows || []) table.append(el("tr", {}, ...row.map((c) => el("td", {}, c))));
    return table;
  }
  if (view.kind === "text") return el("pre", { class: "scq-log scq-preview" }, view.text || "");
  if (view.kind === "binary") return el("pre", { class: "scq-log scq-preview" }, view.hex || "");
  return el("div", { class: "scq-empty" }, "no preview");
}

function renderResults({ model, el: root }) {
  root.classList.add("scq-widget", "scq-results");
  const notice = el("div", { class: "scq-notice", role: "status" });
  const list = el("div", { class: "scq-results-jobs" });
  const detail = el("div", { class: "scq-results-report" });
  root.replaceChildren(el("div", { class: "scq-title" }, "results awaiting release"), notice, list, detail);

  function drawJobs() {
    const jobs = model.get("jobs");
    const rows = jobs.map((job) => {
      const check = el("button", { type: "button", class: "scq-results-check", "aria-label": `check the results of ${job.name}` }, "Check");
      check.addEventListener("click", () => model.send({ action: "check", uid: job.uid }));
      return el(
        "tr",
        { "data-uid": job.uid },
        el("td", {}, el("code", { title: job.uid }, job.short_id)),
        el("td", {}, job.name),
        el("td", {}, job.requester),
        el("td", {}, job.error || (job.exit_code === null ? "" : `exit code ${job.exit_code}`)),
        el("td", {}, check),
      );
    });
    list.replaceChildren(
      jobs.length
        ? el("table", { class: "scq-table" }, el("tr", {}, ...["id", "name", "requester", "run", ""].map((h) => el("th", {}, h))), ...rows)
        : el("div", { class: "scq-empty" }, "no results awaiting release"),
    );
  }

  function drawReport() {
    const report = model.get("report");
    if (!report || !report.uid) {
      detail.replaceChildren();
      return;
    }
    const picks = [];
    const files = report.files.map((file) => {
      const pick = el("input", { type: "checkbox", class: "scq-pick", "aria-label": `release ${file.path}` });
      pick.checked = file.releasable && file.counts.block === 0;
      pick.disabled = !file.releasable;
      picks.push([file.path, pick]);
      const shown = el("div", { class: "scq-results-file", hidden: "" });
      shown.append(
        preview(file.preview),
        el("ul", {}, ...file.findings.map((f) => el("li", { class: `scq-finding-${f.severity}` }, `${f.severity}: ${f.where}: ${f.message} [${f.check}]`))),
      );
      const open = el("button", { type: "button", class: "scq-preview-toggle", "aria-expanded": "false", "aria-label": `preview ${file.path}` }, "Preview");
      open.addEventListener("click", () => {
        shown.hidden = !shown.hidden;
        open.setAttribute("aria-expanded", String(!shown.hidden));
      });
      const counts = ["block", "review"].filter((s) => file.counts[s]).map((s) => badge(s, file.counts[s]));
      return el(
        "li",
        { "data-path": file.path },
        pick, " ", el("code", {}, file.path), ` ${formatBytes(file.size)} ${file.kind} `, ...counts, " ", open, shown,
      );
    });
    const reason = el("input", { type: "text", class: "scq-reason", placeholder: "reason (shown to the data scientist)", "aria-label": "reason" });
    const release = el("button", { type: "button", class: "scq-release" }, "Release selected");
    release.addEventListener("click", () => {
      const chosen = picks.filter(([, pick]) => pick.checked).map(([path]) => path);
      model.send({ action: "release", uid: report.uid, files: chosen, reason: reason.value });
    });
    const withhold = el("button", { type: "button", class: "scq-withhold" }, "Withhold");
    withhold.addEventListener("click", () => model.send({ action: "withhold", uid: report.uid, reason: reason.value }));
    const totals = Object.entries(report.counts).map(([s, n]) => `${n} ${s}`).join(", ");
    detail.replaceChildren(
      el("div", { class: "scq-title scq-report-title" }, `report of ${report.uid}: ${totals}`),
      el("ul", {}, ...report.general.map((f) => el("li", {}, `${f.severity}: ${f.message} [${f.check}]`))),
      el("ul", { class: "scq-files" }, ...files),
      reason, release, withhold,
    );
  }

  function drawNotice() {
    const current = model.get("notice") || {};
    notice.textContent = current.text || "";
    notice.className = `scq-notice scq-notice-${current.kind || "ok"}`;
  }

  const handlers = [["jobs", drawJobs], ["report", drawReport], ["notice", drawNotice]];
  for (const [name, draw] of handlers) model.on(`change:${name}`, draw);
  drawJobs();
  drawReport();
  drawNotice();
  return () => {
    for (const [name, draw] of handlers) model.off(`change:${name}`, draw);
  };
}

export default { render: renderResults };
