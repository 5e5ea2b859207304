// borderbus duty desk console: plain JS, no build step, every asset served by the desk itself.
// The alert table shows only what arrived on the SSE stream, so what an officer sees is what went through Kafka.
"use strict";

const TOKEN_KEY = "borderbus.desk.token";
const LOCALE_KEY = "borderbus.desk.locale"; // + ".<officer>": the officer's own choice, over the officers file's
const { i18n } = window.Borderbus;
const t = i18n.t;
const SEVERITY_RANK = { LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4 };
const FINAL_STATUSES = new Set(["resolved", "false_positive"]);
const ALLOWED_ACTIONS = {
  new: ["ACKNOWLEDGE", "ESCALATE", "RESOLVE", "FALSE_POSITIVE"],
  acknowledged: ["ESCALATE", "RESOLVE", "FALSE_POSITIVE"],
  escalated: ["ACKNOWLEDGE", "RESOLVE", "FALSE_POSITIVE"],
  retracted: ["RESOLVE", "FALSE_POSITIVE"],
  resolved: [],
  false_positive: [],
};
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const SILENCE_LIMIT_MS = 45000; // the desk sends ": keepalive" every 15 s; three missed means a dead connection
const FLASH_MS = 2500;

const $ = (selector) => document.querySelector(selector);

const state = {
  token: null,
  officer: null,
  alerts: new Map(),
  rows: new Map(),
  selectedId: null,
  cursorId: null, // the row that holds the table's tab stop
  lastEventId: null,
  filters: {},
  stream: null, // {controller, generation}
  generation: 0,
  backoffMs: BACKOFF_FIRST_MS,
  retryMs: null, // the server's "retry:" hint, the first reconnection delay
  renderQueued: false,
  changed: new Set(),
  knownRules: new Set(),
  knownBorderPoints: new Set(),
  borderPoints: {}, // code -> {code, name, country, latitude, longitude}, for the map and place names
  pictures: "", // what the map and graph were last drawn for (alert, version, status, locale)
};

// ---------- small helpers ----------

/** A moment in UTC, in the locale's digits, as a left-to-right isolate. */
function utc(iso) {
  return iso ? i18n.timeNode(iso) : "";
}

function tlpLabel(tlp) {
  return "TLP:" + String(tlp || "CLEAR").replace("_", "+");
}

function statusLabel(status) {
  return i18n.has(`status.${status}`) ? t(`status.${status}`) : status;
}

function ruleLabel(rule) {
  return i18n.has(`rule.${rule}`) ? t(`rule.${rule}`) : rule;
}

/** The alert's summary in the officer's language from its phrases; older versions carry only the English text. */
function summaryNode(alert) {
  const rendered = i18n.summary(alert.summary_phrases);
  if (rendered) return el("span", { class: "summary-text", dataset: { rendered: "phrases" } }, rendered);
  return el("span", { class: "summary-text", lang: "en", dir: "auto", dataset: { rendered: "english" } }, alert.summary || "");
}

/** Rule codes wrap at their underscores instead of mid-word in a narrow column. */
function breakable(code) {
  return String(code).replaceAll("_", "_\u200b");
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

/** Identifiers, codes and numbers keep their left-to-right order inside right-to-left text. */
function ltr(text, className = "ltr") {
  return i18n.ltr(text, className);
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, ok: response.ok, body };
}

function errorText(status, body) {
  if (body && body.message) return body.field ? `${body.message} (field: ${body.field})` : body.message;
  if (body && body.error) return `${body.error} (HTTP ${status})`;
  return `HTTP ${status}`;
}

// ---------- SSE parsing (fetch + ReadableStream, because EventSource cannot send an Authorization header) ----------

/** Incremental text/event-stream parser following the WHATWG rules; feed() it decoded text, it calls onEvent per message. */
class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.lastEventId = null;
    this.retryMs = null;
    this.afterCR = false;
    this.reset();
  }

  reset() {
    this.eventType = "";
    this.data = [];
    this.sawData = false;
  }

  feed(text) {
    // a chunk ending in "\r" ended its line; a "\n" opening the next chunk belongs to that "\r\n"
    if (this.afterCR && text.startsWith("\n")) text = text.slice(1);
    this.afterCR = text.endsWith("\r");
    this.buffer += text;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === "") {
      if (this.sawData) {
        this.onEvent({ id: this.lastEventId, event: this.eventType || "message", data: this.data.join("\n") });
      }
      this.reset();
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      this.data.push(value);
      this.sawData = true;
    } else if (field === "event") {
      this.eventType = value;
    } else if (field === "id" && !value.includes("\0")) {
      this.lastEventId = value;
    } else if (field === "retry" && /^\d+$/.test(value)) {
      this.retryMs = Number(value);
    }
  }
}

// ---------- stream ----------

function streamQuery() {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(state.filters)) if (value) params.set(name, value);
  return params.toString();
}

function setConnection(status, detail = "") {
  const indicator = $("#connection");
  indicator.dataset.state = status;
  indicator.textContent = t(`conn.${status}`);
  indicator.title = detail;
}

function stopStream() {
  if (state.stream) state.stream.controller.abort();
  state.stream = null;
}

function startStream() {
  stopStream();
  const generation = ++state.generation;
  const controller = new AbortController();
  state.stream = { controller, generation };
  state.backoffMs = state.retryMs || BACKOFF_FIRST_MS;
  setConnection("connecting");
  streamLoop(generation, controller);
}

async function streamLoop(generation, controller) {
  const current = () => state.generation === generation && !controller.signal.aborted;
  while (current()) {
    let failure = "";
    try {
      await readStream(controller, current);
      failure = "stream ended";
    } catch (error) {
      if (!current()) return;
      if (error && error.unauthorized) {
        signOut(t("signin.expired"));
        return;
      }
      failure = error && error.message ? error.message : String(error);
      if (error && error.retryAfterMs) state.backoffMs = Math.max(state.backoffMs, error.retryAfterMs);
    }
    if (!current()) return;
    const delay = state.backoffMs * (0.75 + Math.random() * 0.5);
    state.backoffMs = Math.min(state.backoffMs * 2, BACKOFF_MAX_MS);
    setConnection("reconnecting", t("conn.retrying", { failure, seconds: i18n.number(delay / 1000, 1) }));
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

async function readStream(controller, current) {
  const headers = { Accept: "text/event-stream", Authorization: `Bearer ${state.token}` };
  if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
  const query = streamQuery();
  const attempt = new AbortController();
  const abortAttempt = () => attempt.abort();
  controller.signal.addEventListener("abort", abortAttempt);
  let watchdog = null;
  const armWatchdog = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => attempt.abort(), SILENCE_LIMIT_MS);
  };
  try {
    armWatchdog();
    const response = await fetch(`/api/v1/stream${query ? "?" + query : ""}`, { headers, signal: attempt.signal, cache: "no-store" });
    if (response.status === 401) throw Object.assign(new Error("unauthorized"), { unauthorized: true });
    if (response.status === 429) {
      const seconds = Number(response.headers.get("Retry-After")) || 60;
      throw Object.assign(new Error(`too many failed sign-ins from this address`), { retryAfterMs: seconds * 1000 });
    }
    if (!response.ok || !response.body) throw new Error(`stream answered HTTP ${response.status}`);
    setConnection("live");
    const parser = new SseParser((message) => {
      if (!current()) return;
      if (message.id) state.lastEventId = message.id;
      if (message.event === "alert") receiveAlert(JSON.parse(message.data));
      else if (message.event === "silence") window.BorderbusSilences?.receive(JSON.parse(message.data));
      state.backoffMs = state.retryMs || BACKOFF_FIRST_MS;
    });
    parser.lastEventId = state.lastEventId;
    const keepRetry = () => {
      if (parser.retryMs) state.retryMs = parser.retryMs;
    };
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || !current()) return;
      armWatchdog();
      parser.feed(value);
      keepRetry();
    }
  } catch (error) {
    if (attempt.signal.aborted && current()) throw new Error("no data or keepalive for 45 s");
    throw error;
  } finally {
    clearTimeout(watchdog);
    controller.signal.removeEventListener("abort", abortAttempt);
  }
}

// ---------- alerts ----------

/** The server filters the stream; this repeats the filters so an alert that stops matching (e.g. acknowledged) leaves the table. */
function matchesFilters(alert) {
  const f = state.filters;
  const list = (text) => text.split(",").map((item) => item.trim()).filter(Boolean);
  if ((f.silenced || "false") === "false" && alert.silenced) return false;
  if (f.silenced === "true" && !alert.silenced) return false;
  if (f.min_severity && (SEVERITY_RANK[alert.severity] || 0) < SEVERITY_RANK[f.min_severity.toUpperCase()]) return false;
  if (f.status && !list(f.status).includes(alert.status)) return false;
  if (f.rule && !list(f.rule).includes(alert.rule)) return false;
  if (f.border_point && !list(f.border_point.toUpperCase()).includes((alert.border_point || "").toUpperCase())) return false;
  if (f.subject) {
    const wanted = f.subject.toLowerCase();
    const hit = (alert.subjects || []).some((s) => s.id.toLowerCase() === wanted || `${s.kind}:${s.id}`.toLowerCase() === wanted);
    if (!hit) return false;
  }
  return true;
}

function receiveAlert(alert) {
  if (!alert || !alert.alert_id) return;
  const before = state.alerts.get(alert.alert_id);
  if (!matchesFilters(alert)) {
    if (before) {
      state.alerts.delete(alert.alert_id);
      state.changed.add(alert.alert_id);
      queueRender();
    }
    return;
  }
  state.alerts.set(alert.alert_id, alert);
  if (alert.rule) state.knownRules.add(alert.rule);
  if (alert.border_point) state.knownBorderPoints.add(alert.border_point);
  if (!before || JSON.stringify(before) !== JSON.stringify(alert)) {
    state.changed.add(alert.alert_id);
    queueRender();
  }
}

function queueRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  const render = () => {
    state.renderQueued = false;
    renderTable();
    if (state.selectedId && state.changed.has(state.selectedId)) renderDetail();
    state.changed.clear();
  };
  // animation frames never come in a hidden tab, and a desk in a background tab must still be current
  if (document.hidden) setTimeout(render, 0);
  else requestAnimationFrame(render);
}

function sortedAlerts() {
  return [...state.alerts.values()].sort(
    (a, b) => String(b.updated_at).localeCompare(String(a.updated_at)) || a.alert_id.localeCompare(b.alert_id),
  );
}

function severityBadge(severity) {
  return el("span", { class: `severity sev-${String(severity).toLowerCase()}`, dataset: { severity } }, t(`severity.${severity}`));
}

function fillRow(row, alert) {
  row.dataset.status = alert.status;
  row.dataset.severity = alert.severity;
  row.dataset.version = String(alert.version);
  row.dataset.updated = alert.updated_at;
  const summary = summaryNode(alert);
  row.setAttribute("aria-label", `${t(`severity.${alert.severity}`)} ${statusLabel(alert.status)} ${ruleLabel(alert.rule)}: ${summary.textContent}`);
  const subjects = (alert.subjects || []).map((s) => el("div", { title: t(`kind.${s.kind}`) }, ltr(s.id, "ltr ident")));
  const [day, time] = i18n.time(alert.updated_at).split(" ");
  const flag = alert.reopened ? " ↻" : alert.updated_since_acknowledged ? " •" : "";
  const noticeTitle = (alert.notices || []).filter((n) => n.code !== "retracted").map((n) => noticeNodes(n).textContent).join("\n");
  row.replaceChildren(
    el("td", { class: "sev-cell" }, severityBadge(alert.severity)),
    el(
      "td",
      { class: `status status-${alert.status}`, title: noticeTitle },
      statusLabel(alert.status) + flag,
    ),
    el("td", { class: "rule", title: alert.rule }, ruleLabel(alert.rule) === alert.rule ? ltr(breakable(alert.rule)) : ruleLabel(alert.rule)),
    el("td", { class: "summary-cell" }, summary),
    el("td", { class: "subjects mono" }, ...subjects),
    el("td", { class: "border-point", title: (alert.border_point && i18n.placeName(alert.border_point)) || "" }, alert.border_point ? ltr(alert.border_point) : "—"),
    el("td", { class: "updated mono", title: `${i18n.time(alert.updated_at)} UTC` }, el("div", {}, ltr(time || "")), el("div", { class: "day" }, ltr(day || ""))),
    el("td", { class: "version" }, i18n.number(alert.version)),
  );
}

function newRow(alertId) {
  const row = el("tr", { tabindex: "-1", dataset: { alertId } });
  row.addEventListener("click", () => select(alertId));
  row.addEventListener("focus", () => {
    state.cursorId = alertId;
    updateRovingTabindex();
  });
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(alertId);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const sibling = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
      if (sibling) sibling.focus();
    }
  });
  return row;
}

function flash(row) {
  row.classList.remove("flash");
  void row.offsetWidth; // restart the animation
  row.classList.add("flash");
  clearTimeout(row.flashTimer);
  row.flashTimer = setTimeout(() => row.classList.remove("flash"), FLASH_MS);
}

function renderTable() {
  const body = $("#alert-rows");
  for (const [alertId, row] of state.rows) {
    if (!state.alerts.has(alertId)) {
      row.remove();
      state.rows.delete(alertId);
    }
  }
  const firstFill = state.rows.size === 0; // the snapshot after sign-in or new filters: nothing is news yet
  let cursor = body.firstElementChild;
  for (const alert of sortedAlerts()) {
    let row = state.rows.get(alert.alert_id);
    const isNew = !row;
    if (isNew) {
      row = newRow(alert.alert_id);
      state.rows.set(alert.alert_id, row);
    }
    if (isNew || state.changed.has(alert.alert_id)) {
      fillRow(row, alert);
      if (!firstFill) flash(row);
    }
    row.setAttribute("aria-selected", String(alert.alert_id === state.selectedId));
    // move only rows out of place, so a focused row keeps its focus
    if (row !== cursor) body.insertBefore(row, cursor);
    else cursor = cursor.nextElementSibling;
  }
  updateRovingTabindex();
  $("#empty-list").hidden = state.alerts.size > 0;
  $("#alert-count").textContent = i18n.plural("alerts.count", state.alerts.size);
  const waiting = [...state.alerts.values()].filter((alert) => alert.status === "new").length;
  document.title = waiting ? t("app.title_waiting", { count: i18n.number(waiting) }) : t("app.title");
  fillDatalist("#known-rules", state.knownRules);
  fillDatalist("#known-border-points", state.knownBorderPoints);
}

/** One tab stop for the whole table (arrow keys move within it), so Tab reaches the detail pane quickly. */
function updateRovingTabindex() {
  const body = $("#alert-rows");
  const current = state.rows.get(state.cursorId) || state.rows.get(state.selectedId) || body.firstElementChild;
  for (const row of body.children) row.tabIndex = row === current ? 0 : -1;
}

function fillDatalist(selector, values) {
  const list = $(selector);
  if (list.options.length === values.size) return;
  list.replaceChildren(...[...values].sort().map((value) => el("option", { value })));
}

// ---------- detail ----------

function select(alertId) {
  if (state.selectedId !== alertId) {
    $("#action-note").value = "";
    $("#action-message").textContent = "";
  }
  state.selectedId = alertId;
  for (const [id, row] of state.rows) row.setAttribute("aria-selected", String(id === alertId));
  renderDetail();
  readDetail(alertId);
}

/** Opening an alert reads it from the desk (the read is in the audit trail), then shows what came back. */
async function readDetail(alertId) {
  try {
    const { ok, body } = await api(`/api/v1/alerts/${encodeURIComponent(alertId)}`);
    if (ok && body && body.alert_id === alertId) receiveAlert(body);
  } catch {
    // the stream's copy stays on screen
  }
}

function renderDetail() {
  const alert = state.alerts.get(state.selectedId);
  $("#detail-empty").hidden = Boolean(alert);
  $("#detail-body").hidden = !alert;
  if (!alert) return;
  const detail = $("#detail");
  detail.dataset.alertId = alert.alert_id;
  detail.dataset.status = alert.status;

  const tlp = $("#detail-tlp");
  tlp.textContent = tlpLabel(alert.tlp);
  tlp.className = `tlp tlp-${String(alert.tlp).toLowerCase().replace("_", "-")}`;
  $("#detail-severity").replaceWith(Object.assign(severityBadge(alert.severity), { id: "detail-severity" }));
  const status = $("#detail-status");
  status.textContent = statusLabel(alert.status);
  status.className = `status-badge status status-${alert.status}`;
  $("#detail-version").textContent =
    t("detail.version", { version: i18n.number(alert.version) }) + (alert.escalated ? ` · ${t("detail.escalated")}` : "");
  $("#detail-title").replaceChildren(ruleLabel(alert.rule), " ", el("span", { class: "rule-code muted small" }, ltr(alert.rule)));
  const summary = summaryNode(alert);
  $("#detail-summary").replaceChildren(summary);
  if (summary.dataset.rendered === "english" && i18n.locale !== "en") {
    $("#detail-summary").append(" ", el("span", { class: "muted small" }, t("detail.summary_in_english")));
  }
  $("#detail-id").textContent = alert.alert_id;
  $("#detail-border-point").replaceChildren(alert.border_point ? placeNode(alert.border_point) : "—");
  $("#detail-window").replaceChildren(utc(alert.window_start), " → ", utc(alert.window_end));
  $("#detail-subjects").replaceChildren(
    ...(alert.subjects || []).map((s) =>
      el("li", { dataset: { subject: `${s.kind}:${s.id}` } }, el("span", { class: "kind" }, t(`kind.${s.kind}`)), " ", ltr(s.id, "ltr mono ident")),
    ),
  );
  $("#detail-agencies").replaceChildren(
    ...(alert.allowed_agencies || []).flatMap((code, index) => [index ? ", " : "", code === "*" ? t("facts.every_agency") : ltr(code)]),
  );
  $("#detail-acknowledged-by").replaceChildren(
    alert.acknowledged_by
      ? alert.acknowledged_version
        ? i18n.nodes("facts.acknowledged_version", { officer: ltr(alert.acknowledged_by), version: i18n.number(alert.acknowledged_version) })
        : ltr(alert.acknowledged_by)
      : "—",
  );
  // why the alert is where it is: retracted by the facts, reopened, or changed since it was acknowledged
  const notices = [];
  if (alert.retraction) notices.push(retractionNotice(alert.retraction));
  for (const notice of alert.notices || []) {
    if (notice.code === "retracted") continue; // drawn from alert.retraction above, with its detail
    const kind = notice.code.startsWith("reopened") ? "reopened" : notice.code === "updated_since_acknowledged" ? "updated" : "other";
    notices.push(el("p", { class: `notice notice-${kind}`, dataset: { notice: kind, code: notice.code } }, noticeNodes(notice)));
  }
  $("#detail-notices").replaceChildren(...notices);

  window.Borderbus.timeline.render($("#detail-evidence"), alert.evidence);
  renderPictures(alert);

  const actions = alert.actions || [];
  $("#detail-actions").replaceChildren(
    ...actions.map((a) =>
      el(
        "tr",
        { dataset: { action: a.action } },
        el("td", { class: "mono" }, utc(a.occurred_at)),
        el("td", {}, ltr(`${a.actor} (${a.agency})`)),
        el("td", {}, i18n.has(`action.${a.action}`) ? t(`action.${a.action}`) : a.action),
        el("td", { dir: "auto" }, a.note || ""),
      ),
    ),
  );
  $("#detail-no-actions").hidden = actions.length > 0;

  const allowed = new Set(alert.allowed_actions || ALLOWED_ACTIONS[alert.status] || []);
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.disabled = !allowed.has(button.dataset.action) || button.dataset.busy === "1";
    button.title = allowed.has(button.dataset.action) ? "" : t("action.not_possible", { status: statusLabel(alert.status) });
  }
  $("#action-note").disabled = FINAL_STATUSES.has(alert.status);
}

async function act(action) {
  const alertId = state.selectedId;
  if (!alertId) return;
  const message = $("#action-message");
  const buttons = document.querySelectorAll("button[data-action]");
  for (const button of buttons) {
    button.dataset.busy = "1";
    button.disabled = true;
  }
  message.className = "action-message";
  message.textContent = t("action.sending", { action: t(`action.${action}`) });
  try {
    const note = $("#action-note").value.trim();
    const { status, ok, body } = await api(`/api/v1/alerts/${encodeURIComponent(alertId)}/actions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(note ? { action, note } : { action }),
    });
    if (status === 401) {
      signOut(t("signin.expired"));
      return;
    }
    if (ok) {
      // The table is not patched from this answer: the change arrives on the stream once it has gone through Kafka.
      message.className = "action-message ok";
      message.textContent =
        status === 202
          ? t("action.recorded", { action: t(`action.${action}`) })
          : t("action.done", { action: t(`action.${action}`), status: statusLabel(body.status) });
      $("#action-note").value = "";
    } else {
      message.className = "action-message error";
      message.dataset.error = (body && body.error) || "";
      message.textContent = errorText(status, body);
    }
  } catch (error) {
    message.className = "action-message error";
    message.textContent = t("error.unreachable", { detail: error.message });
  } finally {
    for (const button of buttons) delete button.dataset.busy;
    if (state.selectedId === alertId) renderDetail();
  }
}

// ---------- notices: codes and parameters from the desk, worded from the catalogue ----------

/** A notice's words in the current locale: versions as numbers, severities and changes by their labels. */
function noticeNodes(notice) {
  const p = notice.params || {};
  const number = (value) => ltr(i18n.decimal(value), "ltr number");
  const severity = (code) => (i18n.has(`severity.${code}`) ? t(`severity.${code}`) : ltr(code));
  switch (notice.code) {
    case "reopened.reraised":
      return i18n.nodes("notice.reopened.reraised", { version: number(p.version) });
    case "reopened.severity_raised":
      return i18n.nodes("notice.reopened.severity_raised", { from: severity(p.from), to: severity(p.to), version: number(p.version) });
    case "updated_since_acknowledged": {
      const changes = document.createDocumentFragment();
      String(p.changes || "").split(",").filter(Boolean).forEach((code, index) => {
        if (index) changes.append(t("notice.list_separator"));
        changes.append(i18n.code("change", code));
      });
      return i18n.nodes("notice.updated_since_acknowledged", {
        version: number(p.version), changes, acknowledged_version: number(p.acknowledged_version),
      }); // prettier-ignore
    }
    default: // a notice restored from an older status record: only its English text is known
      return el("span", { lang: "en", dir: "auto" }, notice.text || p.text || notice.code);
  }
}

/** Retracted: the reason by its label (the code stays on the element), the detail as the bus recorded it (English). */
function retractionNotice(r) {
  const reason = el("span", { class: "retraction-reason", dataset: { reason: r.reason }, title: r.reason },
    i18n.has(`retraction.${r.reason}`) ? t(`retraction.${r.reason}`) : ltr(r.reason)); // prettier-ignore
  const detail = r.detail
    ? el("span", { class: "retraction-detail" },
        i18n.nodes("notice.retracted_detail", { detail: el("span", { lang: "en", dir: "auto" }, r.detail) })) // prettier-ignore
    : "";
  return el("p", { class: "notice notice-retracted", dataset: { notice: "retracted", code: "retracted" } },
    i18n.nodes("notice.retracted", { reason, detail }),
    (r.event_ids || []).length
      ? el("span", { class: "mono small" }, i18n.nodes("notice.retracted_events", { events: ltr(r.event_ids.join(", ")) }))
      : ""); // prettier-ignore
}

// ---------- pictures: map and network (map.js, graph.js) ----------

/** A border point as "code (name in the locale)", the code left to right. */
function placeNode(code) {
  const name = i18n.placeName(code);
  if (!name) return ltr(code, "ltr place");
  return el("span", { class: "place", dataset: { borderPoint: code } }, i18n.nodes("place.named", { code: ltr(code, "ltr place"), name }));
}

async function loadBorderPoints() {
  const { ok, body } = await api("/api/v1/border-points");
  if (!ok || !body) return;
  state.borderPoints = Object.fromEntries(body.border_points.map((point) => [point.code, point]));
  i18n.points = state.borderPoints;
}

/** Draw the map and fetch and draw the graph, once per alert version, status and language. */
function renderPictures(alert) {
  const key = [alert.alert_id, alert.version, alert.status, i18n.locale].join("|");
  if (state.pictures === key) return;
  state.pictures = key;
  const stale = () => state.pictures !== key;
  window.Borderbus.map.render($("#detail-map"), alert, state.borderPoints).catch((error) => {
    if (!stale()) $("#detail-map").textContent = error.message;
  });
  const status = $("#graph-status");
  status.textContent = t("graph.loading");
  api(`/api/v1/alerts/${encodeURIComponent(alert.alert_id)}/graph`)
    .then(({ ok, status: code, body }) => {
      if (stale()) return;
      if (!ok) {
        status.textContent = t("graph.failed", { detail: errorText(code, body) });
        return;
      }
      window.Borderbus.graph.render($("#detail-graph"), body, {
        onSubject: filterBySubject,
        onAlert: (alertId) => state.alerts.has(alertId) && select(alertId),
        chosenSubject: state.filters.subject,
      });
      $("#detail-graph").dataset.alertId = alert.alert_id;
      status.textContent = state.filters.subject ? t("graph.filtered", { subject: state.filters.subject }) : "";
    })
    .catch((error) => {
      if (!stale()) status.textContent = t("graph.failed", { detail: error.message });
    });
}

/** A subject chosen in the graph becomes the list's subject filter (the detail stays on the alert). */
function filterBySubject(subjectKey) {
  $("#filter-subject").value = subjectKey;
  state.pictures = "";
  applyFilters();
}

// ---------- language ----------

async function useLocale(locale) {
  await i18n.load(locale || "en");
  $("#locale").value = i18n.locale;
  localStorage.setItem(LOCALE_KEY, i18n.locale);
  state.pictures = "";
  for (const [alertId, row] of state.rows) if (state.alerts.has(alertId)) fillRow(row, state.alerts.get(alertId));
  if (state.token) {
    renderTable();
    renderDetail();
  }
  window.BorderbusSilences?.relocalize(); // the silences, the banner and the audit trail too
  setConnection($("#connection").dataset.state);
}

// ---------- keyboard ----------

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

/** Next (+1) or previous (-1) alert in the list's order: selected, focused and scrolled into view. */
function step(direction) {
  const order = sortedAlerts().map((alert) => alert.alert_id);
  if (!order.length) return;
  const at = order.indexOf(state.selectedId);
  const next = order[at === -1 ? (direction > 0 ? 0 : order.length - 1) : Math.min(Math.max(at + direction, 0), order.length - 1)];
  select(next);
  const row = state.rows.get(next);
  if (row) {
    state.cursorId = next;
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }
}

function toggleKeysHelp(show) {
  const help = $("#keys-help");
  const open = show === undefined ? help.hidden : show;
  help.hidden = !open;
  $("#keys-help-open").setAttribute("aria-expanded", String(open));
  if (open) help.focus();
}

function onKey(event) {
  if (event.key === "Escape") {
    if (!$("#keys-help").hidden) {
      toggleKeysHelp(false);
      $("#keys-help-open").focus();
      return;
    }
    if (state.selectedId) {
      const row = state.rows.get(state.selectedId);
      state.selectedId = null;
      renderDetail();
      renderTable();
      if (row) row.focus();
    }
    return;
  }
  if (!state.token || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  if (event.key === "j" || event.key === "k") {
    event.preventDefault();
    step(event.key === "j" ? 1 : -1);
  } else if (event.key === "a") {
    const button = document.querySelector('button[data-action="ACKNOWLEDGE"]');
    if (state.selectedId && !button.disabled) {
      event.preventDefault();
      act("ACKNOWLEDGE");
    }
  } else if (event.key === "/") {
    event.preventDefault();
    $("#filter-subject").focus();
  } else if (event.key === "?") {
    event.preventDefault();
    toggleKeysHelp();
  }
}

// ---------- filters ----------

function readFilters() {
  const form = $("#filters");
  const statuses = [...form.querySelectorAll("input[name=status]:checked")].map((box) => box.value);
  return {
    min_severity: form.elements.min_severity.value,
    status: statuses.join(","),
    rule: form.elements.rule.value.trim(),
    border_point: form.elements.border_point.value.trim(),
    subject: form.elements.subject.value.trim(),
    silenced: form.elements.silenced.value,
  };
}

function applyFilters() {
  state.filters = readFilters();
  state.alerts.clear();
  state.lastEventId = null; // a new query needs a new snapshot, not the changes after the old one
  state.changed.clear();
  queueRender();
  renderDetail();
  startStream();
}

// ---------- sign-in ----------

async function signIn(token) {
  state.token = token;
  const error = $("#signin-error");
  error.textContent = "";
  let answer;
  try {
    answer = await api("/api/v1/me");
  } catch (failure) {
    error.textContent = t("error.unreachable", { detail: failure.message });
    return;
  }
  if (answer.status === 401) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    error.textContent = t("signin.refused");
    return;
  }
  if (answer.status === 429) {
    state.token = null;
    error.textContent = t("signin.limited", { detail: errorText(answer.status, answer.body) });
    return;
  }
  if (!answer.ok) {
    state.token = null;
    error.textContent = t("signin.failed", { detail: errorText(answer.status, answer.body) });
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.officer = answer.body;
  await useLocale(localStorage.getItem(`${LOCALE_KEY}.${answer.body.officer}`) || answer.body.locale);
  await loadBorderPoints();
  $("#whoami").textContent = `${answer.body.officer} (${answer.body.agency})`;
  $("#token").value = "";
  $("#signin-panel").hidden = true;
  $("#desk").hidden = false;
  $("#sign-out").hidden = false;
  state.filters = readFilters();
  startStream();
  window.BorderbusSilences?.signedIn(answer.body, api);
}

function signOut(reason = "") {
  stopStream();
  state.generation++;
  sessionStorage.removeItem(TOKEN_KEY);
  Object.assign(state, { token: null, officer: null, selectedId: null, lastEventId: null });
  state.alerts.clear();
  state.changed.clear();
  renderTable();
  renderDetail();
  setConnection("signed-out");
  $("#whoami").textContent = "";
  $("#desk").hidden = true;
  $("#sign-out").hidden = true;
  $("#signin-panel").hidden = false;
  $("#signin-error").textContent = reason;
  window.BorderbusSilences?.signedOut();
  $("#token").focus();
}

async function init() {
  $("#signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (token) signIn(token);
  });
  $("#sign-out").addEventListener("click", () => signOut());
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters();
  });
  $("#clear-filters").addEventListener("click", () => {
    $("#filters").reset();
    applyFilters();
  });
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }
  document.addEventListener("keydown", onKey);
  $("#keys-help-open").addEventListener("click", () => toggleKeysHelp());
  $("#locale").addEventListener("change", async (event) => {
    if (state.officer) localStorage.setItem(`${LOCALE_KEY}.${state.officer.officer}`, event.target.value);
    await useLocale(event.target.value);
  });
  await useLocale(localStorage.getItem(LOCALE_KEY) || "en");
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else $("#token").focus();
}

window.BorderbusConsole = { SseParser, matchesFilters, state, step, useLocale };
document.addEventListener("DOMContentLoaded", init);
