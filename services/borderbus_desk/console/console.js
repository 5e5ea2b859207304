// borderbus duty desk console: plain JS, no build step, every asset served by the desk itself.
// The alert table shows only what arrived on the SSE stream, so what an officer sees is what went through Kafka.
"use strict";

const TOKEN_KEY = "borderbus.desk.token";
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
const STATUS_LABEL = { false_positive: "false positive" };
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
};

// ---------- small helpers ----------

function utc(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return String(iso);
  return moment.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function tlpLabel(tlp) {
  return "TLP:" + String(tlp || "CLEAR").replace("_", "+");
}

function statusLabel(status) {
  return STATUS_LABEL[status] || status;
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
  indicator.textContent = status;
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
        signOut("Your token was refused by the desk (401). Sign in again.");
        return;
      }
      failure = error && error.message ? error.message : String(error);
      if (error && error.retryAfterMs) state.backoffMs = Math.max(state.backoffMs, error.retryAfterMs);
    }
    if (!current()) return;
    const delay = state.backoffMs * (0.75 + Math.random() * 0.5);
    state.backoffMs = Math.min(state.backoffMs * 2, BACKOFF_MAX_MS);
    setConnection("reconnecting", `${failure}; retrying in ${(delay / 1000).toFixed(1)} s`);
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
  return el("span", { class: `severity sev-${String(severity).toLowerCase()}` }, severity);
}

function fillRow(row, alert) {
  row.dataset.status = alert.status;
  row.dataset.severity = alert.severity;
  row.dataset.version = String(alert.version);
  row.dataset.updated = alert.updated_at;
  row.setAttribute("aria-label", `${alert.severity} ${statusLabel(alert.status)} ${alert.rule}: ${alert.summary}`);
  const subjects = (alert.subjects || []).map((s) => el("div", { title: s.kind }, s.id));
  const [day, time] = utc(alert.updated_at).split(" ");
  const flag = alert.reopened ? " ↻" : alert.updated_since_acknowledged ? " •" : "";
  row.replaceChildren(
    el("td", { class: "sev-cell" }, severityBadge(alert.severity)),
    el(
      "td",
      { class: `status status-${alert.status}`, title: alert.reopened || alert.updated_since_acknowledged || "" },
      statusLabel(alert.status) + flag,
    ),
    el("td", { class: "rule" }, breakable(alert.rule)),
    el("td", { class: "summary-cell" }, alert.summary),
    el("td", { class: "subjects mono" }, ...subjects),
    el("td", { class: "border-point" }, alert.border_point || "—"),
    el("td", { class: "updated mono", title: utc(alert.updated_at) }, el("div", {}, time || ""), el("div", { class: "day" }, day)),
    el("td", { class: "version" }, String(alert.version)),
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
  $("#alert-count").textContent = `${state.alerts.size} alert${state.alerts.size === 1 ? "" : "s"}`;
  const waiting = [...state.alerts.values()].filter((alert) => alert.status === "new").length;
  document.title = waiting ? `(${waiting} new) borderbus duty desk` : "borderbus duty desk";
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
  $("#detail-version").textContent = `version ${alert.version}${alert.escalated ? " · escalated" : ""}`;
  $("#detail-title").textContent = alert.rule;
  $("#detail-summary").textContent = alert.summary;
  $("#detail-id").textContent = alert.alert_id;
  $("#detail-border-point").textContent = alert.border_point || "—";
  $("#detail-window").textContent = `${utc(alert.window_start)} → ${utc(alert.window_end)}`;
  $("#detail-subjects").replaceChildren(
    ...(alert.subjects || []).map((s) => el("li", {}, el("span", { class: "kind" }, s.kind), " ", el("span", { class: "mono" }, s.id))),
  );
  $("#detail-agencies").textContent = (alert.allowed_agencies || []).map((code) => (code === "*" ? "every agency (*)" : code)).join(", ");
  $("#detail-acknowledged-by").textContent = alert.acknowledged_by
    ? `${alert.acknowledged_by}${alert.acknowledged_version ? ` (version ${alert.acknowledged_version})` : ""}`
    : "—";
  // why the alert is where it is: retracted by the facts, reopened, or changed since it was acknowledged
  const notices = [];
  if (alert.retraction) {
    const r = alert.retraction;
    notices.push(el("p", { class: "notice notice-retracted", dataset: { notice: "retracted" } },
      `Retracted (${r.reason}): ${r.detail}`,
      (r.event_ids || []).length ? el("span", { class: "mono small" }, ` — events ${r.event_ids.join(", ")}`) : ""));
  }
  if (alert.reopened) notices.push(el("p", { class: "notice notice-reopened", dataset: { notice: "reopened" } }, alert.reopened));
  if (alert.updated_since_acknowledged) {
    notices.push(el("p", { class: "notice notice-updated", dataset: { notice: "updated" } }, alert.updated_since_acknowledged));
  }
  $("#detail-notices").replaceChildren(...notices);

  $("#detail-evidence").replaceChildren(
    ...(alert.evidence || []).map((item) =>
      el(
        "li",
        {},
        el("div", { class: "when mono" }, utc(item.occurred_at)),
        el(
          "div",
          { class: "what" },
          el("span", { class: "agency" }, item.agency),
          el("span", { class: "event-type" }, item.event_type),
          el("span", { class: "where" }, item.border_point || "—"),
        ),
        el("div", { class: "evidence-summary" }, item.summary),
      ),
    ),
  );

  const actions = alert.actions || [];
  $("#detail-actions").replaceChildren(
    ...actions.map((a) =>
      el(
        "tr",
        { dataset: { action: a.action } },
        el("td", { class: "mono" }, utc(a.occurred_at)),
        el("td", {}, `${a.actor} (${a.agency})`),
        el("td", {}, a.action),
        el("td", {}, a.note || ""),
      ),
    ),
  );
  $("#detail-no-actions").hidden = actions.length > 0;

  const allowed = new Set(alert.allowed_actions || ALLOWED_ACTIONS[alert.status] || []);
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.disabled = !allowed.has(button.dataset.action) || button.dataset.busy === "1";
    button.title = allowed.has(button.dataset.action) ? "" : `not possible from status ${statusLabel(alert.status)}`;
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
  message.textContent = `Sending ${action}…`;
  try {
    const note = $("#action-note").value.trim();
    const { status, ok, body } = await api(`/api/v1/alerts/${encodeURIComponent(alertId)}/actions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(note ? { action, note } : { action }),
    });
    if (status === 401) {
      signOut("Your token was refused by the desk (401). Sign in again.");
      return;
    }
    if (ok) {
      // The table is not patched from this answer: the change arrives on the stream once it has gone through Kafka.
      message.className = "action-message ok";
      message.textContent =
        status === 202 ? `${action} recorded in Kafka; the table updates once the desk applies it.` : `${action} done (now ${statusLabel(body.status)}).`;
      $("#action-note").value = "";
    } else {
      message.className = "action-message error";
      message.dataset.error = (body && body.error) || "";
      message.textContent = errorText(status, body);
    }
  } catch (error) {
    message.className = "action-message error";
    message.textContent = `Could not reach the desk: ${error.message}`;
  } finally {
    for (const button of buttons) delete button.dataset.busy;
    if (state.selectedId === alertId) renderDetail();
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
    error.textContent = `Could not reach the desk: ${failure.message}`;
    return;
  }
  if (answer.status === 401) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    error.textContent = "Token not recognised (401). Check the token issued with `borderbus desk token`.";
    return;
  }
  if (answer.status === 429) {
    state.token = null;
    error.textContent = `Too many failed sign-ins from this address (429): ${errorText(answer.status, answer.body)}`;
    return;
  }
  if (!answer.ok) {
    state.token = null;
    error.textContent = `Sign-in failed: ${errorText(answer.status, answer.body)}`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.officer = answer.body;
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
  $("#connection").textContent = "signed out";
  $("#whoami").textContent = "";
  $("#desk").hidden = true;
  $("#sign-out").hidden = true;
  $("#signin-panel").hidden = false;
  $("#signin-error").textContent = reason;
  window.BorderbusSilences?.signedOut();
  $("#token").focus();
}

function init() {
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
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.selectedId) {
      const row = state.rows.get(state.selectedId);
      state.selectedId = null;
      renderDetail();
      renderTable();
      if (row) row.focus();
    }
  });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else $("#token").focus();
}

window.BorderbusConsole = { SseParser, matchesFilters, state };
document.addEventListener("DOMContentLoaded", init);
