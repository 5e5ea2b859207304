// borderbus duty desk console: silences (create, list, expire, the "about to end" banner) and the
// supervisors' audit trail. console.js calls signedIn/signedOut/receive; everything else is here.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const local = { officer: null, api: null, silences: new Map() };

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
    return node;
  }

  const utc = (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "");
  const roles = () => new Set((local.officer && local.officer.roles) || []);
  const mayCreate = () => roles().has("silence") || roles().has("supervisor");

  function errorText(status, body) {
    if (body && body.message) return body.field ? `${body.message} (field: ${body.field})` : body.message;
    return `HTTP ${status}`;
  }

  function describe(matchers) {
    return Object.entries(matchers || {})
      .filter(([, value]) => value && (!Array.isArray(value) || value.length))
      .map(([name, value]) => `${name}=${Array.isArray(value) ? value.join(",") : value}`)
      .join(" ");
  }

  function mayExpire(silence) {
    if (!local.officer || silence.state === "expired") return false;
    return roles().has("supervisor") || (roles().has("silence") && silence.created_by === local.officer.officer);
  }

  function render() {
    const rows = [...local.silences.values()]
      .filter((s) => s.state !== "expired")
      .sort((a, b) => String(a.ends_at).localeCompare(String(b.ends_at)));
    $("#silence-rows").replaceChildren(
      ...rows.map((s) => {
        const expire = el("button", { type: "button", class: "secondary", dataset: { expire: s.silence_id } }, "Expire now");
        expire.hidden = !mayExpire(s);
        expire.addEventListener("click", () => expireSilence(s.silence_id));
        return el(
          "tr",
          { dataset: { silenceId: s.silence_id, state: s.state } },
          el("td", { class: "mono" }, s.silence_id),
          el("td", {}, s.state + (s.expires_soon ? " (ends soon)" : "")),
          el("td", { class: "mono" }, describe(s.matchers)),
          el("td", { class: "mono" }, utc(s.ends_at)),
          el("td", {}, s.created_by),
          el("td", {}, s.comment),
          el("td", {}, expire),
        );
      }),
    );
    const mine = rows.filter((s) => s.expires_soon && local.officer && s.created_by === local.officer.officer);
    const banner = $("#silence-banner");
    banner.hidden = mine.length === 0;
    banner.dataset.silences = mine.map((s) => s.silence_id).join(" ");
    banner.textContent = mine.length
      ? `Your silence${mine.length > 1 ? "s" : ""} ${mine.map((s) => `${s.silence_id} (ends ${utc(s.ends_at)})`).join(", ")} ` +
        "will end soon: matching open alerts will then be shown, delivered and escalated again."
      : "";
  }

  function receive(silence) {
    if (!silence || !silence.silence_id) return;
    local.silences.set(silence.silence_id, silence);
    render();
  }

  async function refresh() {
    const { ok, body } = await local.api("/api/v1/silences?state=pending,active");
    if (ok) {
      local.silences.clear();
      for (const s of body.silences) local.silences.set(s.silence_id, s);
      render();
    }
  }

  async function createSilence() {
    const form = $("#silence-form");
    const message = $("#silence-message");
    const value = (name) => form.elements[name].value.trim();
    const matchers = {};
    for (const name of ["rule", "subject", "border_point", "agency", "min_severity", "max_severity"]) if (value(name)) matchers[name] = value(name);
    const minutes = Number(value("minutes"));
    const body = { matchers, comment: value("comment"), duration_seconds: Number.isFinite(minutes) ? minutes * 60 : value("minutes") };
    message.className = "action-message";
    message.textContent = "Creating the silence…";
    const { status, ok, body: answer } = await local.api("/api/v1/silences", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (ok) {
      message.className = "action-message ok";
      message.textContent = `Silence ${answer.silence_id} is ${answer.state}.`;
      receive(answer);
      form.elements.comment.value = "";
    } else {
      message.className = "action-message error";
      message.dataset.error = (answer && answer.error) || "";
      message.textContent = errorText(status, answer);
    }
  }

  async function expireSilence(silenceId) {
    const message = $("#silence-message");
    const { status, ok, body } = await local.api(`/api/v1/silences/${encodeURIComponent(silenceId)}/expire`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (ok) {
      receive(body);
      message.className = "action-message ok";
      message.textContent = `Silence ${silenceId} expired.`;
    } else {
      message.className = "action-message error";
      message.textContent = errorText(status, body);
    }
  }

  async function searchAudit() {
    const params = new URLSearchParams();
    for (const name of ["alert", "officer"]) {
      const value = $(`#audit-${name}`).value.trim();
      if (value) params.set(name, value);
    }
    const message = $("#audit-message");
    message.textContent = "Searching…";
    const { status, ok, body } = await local.api(`/api/v1/audit?${params}`);
    if (!ok) {
      message.className = "action-message error";
      message.textContent = errorText(status, body);
      return;
    }
    message.className = "action-message ok";
    message.textContent = `${body.count} entr${body.count === 1 ? "y" : "ies"} (read-only)`;
    $("#audit-rows").replaceChildren(
      ...body.entries.map((e) =>
        el(
          "tr",
          { dataset: { what: e.what, officer: e.officer } },
          el("td", { class: "mono" }, utc(e.occurred_at)),
          el("td", {}, `${e.officer} (${e.agency || "-"})`),
          el("td", {}, e.what),
          el("td", { class: "mono" }, e.alert_id || e.silence_id || ""),
          el("td", {}, e.outcome),
          el("td", { class: "mono" }, e.client_address),
          el("td", {}, e.detail),
        ),
      ),
    );
  }

  function signedIn(officer, api) {
    Object.assign(local, { officer, api });
    $("#silence-form").hidden = !mayCreate();
    $("#audit-section").hidden = !roles().has("supervisor");
    refresh();
  }

  function signedOut() {
    Object.assign(local, { officer: null, api: null });
    local.silences.clear();
    render();
    $("#audit-rows").replaceChildren();
    $("#audit-section").hidden = true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#silence-form").addEventListener("submit", (event) => {
      event.preventDefault();
      createSilence();
    });
    $("#audit-form").addEventListener("submit", (event) => {
      event.preventDefault();
      searchAudit();
    });
  });

  window.BorderbusSilences = { receive, signedIn, signedOut, refresh };
})();
