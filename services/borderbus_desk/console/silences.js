// borderbus duty desk console: silences (create, list, expire, the "about to end" banner) and the
// supervisors' audit trail. console.js calls signedIn/signedOut/receive/relocalize; everything else is here.
// Every word comes from the message catalogues (i18n.js); identifiers, addresses and times are isolated left to right.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const local = { officer: null, api: null, silences: new Map(), audit: null, messages: {} };

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

  const { i18n } = window.Borderbus;
  const ltr = (text, className = "ltr") => i18n.ltr(String(text ?? ""), className);
  const roles = () => new Set((local.officer && local.officer.roles) || []);
  const mayCreate = () => roles().has("silence") || roles().has("supervisor");
  /** A moment in UTC to the second, in the locale's digits, as a left-to-right isolate. */
  const utc = (iso) => (iso ? i18n.timeNode(iso, { seconds: true }) : "");

  /** The desk's own words (English, as the API wrote them) keep their language; codes and numbers are isolated. */
  function errorNodes(status, body) {
    if (body && body.message) {
      const message = el("span", { lang: "en", dir: "auto", class: "server-message" }, body.message);
      return body.field ? i18n.nodes("silences.error_field", { message, field: ltr(body.field, "ltr code") }) : message;
    }
    return i18n.nodes("silences.error_http", { status: ltr(status, "ltr number") });
  }

  /** Show a status message; ``make`` is kept so a language switch says it again in the new language. */
  function say(selector, kind, make) {
    const node = $(selector);
    local.messages[selector] = { kind, make };
    node.className = kind ? `action-message ${kind}` : "action-message";
    node.replaceChildren(make());
  }

  function stateLabel(state) {
    const key = `silences.state.${state}`;
    if (!i18n.has(key)) return ltr(state, "ltr code");
    return el("span", { class: "silence-state", dataset: { state } }, i18n.t(key));
  }

  function severityLabel(code) {
    return i18n.has(`severity.${code}`) ? i18n.t(`severity.${code}`) : ltr(code, "ltr code");
  }

  /** A silence's matchers as "name=value" pairs: names by their labels, values left to right (severities labelled). */
  function describe(matchers) {
    const fragment = document.createDocumentFragment();
    const pairs = Object.entries(matchers || {}).filter(([, value]) => value && (!Array.isArray(value) || value.length));
    pairs.forEach(([name, value], index) => {
      if (index) fragment.append(i18n.t("silences.matcher_separator"));
      const label = i18n.has(`silences.matcher.${name}`) ? i18n.t(`silences.matcher.${name}`) : ltr(name, "ltr code");
      const shown = /_severity$/.test(name) && !Array.isArray(value) ? severityLabel(value) : ltr(Array.isArray(value) ? value.join(",") : value, "ltr ident");
      fragment.append(el("span", { class: "matcher", dataset: { matcher: name } }, i18n.nodes("silences.matcher_pair", { name: label, value: shown })));
    });
    return fragment;
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
        const expire = el("button", { type: "button", class: "secondary", dataset: { expire: s.silence_id } }, i18n.t("silences.expire"));
        expire.hidden = !mayExpire(s);
        expire.addEventListener("click", () => expireSilence(s.silence_id));
        const state = s.expires_soon
          ? i18n.nodes("silences.state_ends_soon", { state: stateLabel(s.state) })
          : stateLabel(s.state);
        return el(
          "tr",
          { dataset: { silenceId: s.silence_id, state: s.state } },
          el("td", { class: "mono" }, ltr(s.silence_id, "ltr ident")),
          el("td", { class: "state", dataset: { endsSoon: String(Boolean(s.expires_soon)) } }, state),
          el("td", { class: "mono" }, describe(s.matchers)),
          el("td", { class: "mono" }, utc(s.ends_at)),
          el("td", {}, ltr(s.created_by, "ltr ident")),
          el("td", { dir: "auto" }, s.comment),
          el("td", {}, expire),
        );
      }),
    );
    const mine = rows.filter((s) => s.expires_soon && local.officer && s.created_by === local.officer.officer);
    const banner = $("#silence-banner");
    banner.hidden = mine.length === 0;
    banner.dataset.silences = mine.map((s) => s.silence_id).join(" ");
    const list = document.createDocumentFragment();
    mine.forEach((s, index) => {
      if (index) list.append(i18n.t("silences.list_separator"));
      list.append(i18n.nodes("silences.banner_item", { id: ltr(s.silence_id, "ltr ident"), time: utc(s.ends_at) }));
    });
    banner.replaceChildren(mine.length ? i18n.pluralNodes("silences.banner", mine.length, { silences: list }) : "");
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
    const value = (name) => form.elements[name].value.trim();
    const matchers = {};
    for (const name of ["rule", "subject", "border_point", "agency", "min_severity", "max_severity"]) if (value(name)) matchers[name] = value(name);
    const minutes = Number(value("minutes"));
    const body = { matchers, comment: value("comment"), duration_seconds: Number.isFinite(minutes) ? minutes * 60 : value("minutes") };
    say("#silence-message", "", () => i18n.t("silences.creating"));
    const { status, ok, body: answer } = await local.api("/api/v1/silences", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (ok) {
      delete $("#silence-message").dataset.error;
      say("#silence-message", "ok", () => i18n.nodes("silences.created", { id: ltr(answer.silence_id, "ltr ident"), state: stateLabel(answer.state) }));
      receive(answer);
      form.elements.comment.value = "";
    } else {
      $("#silence-message").dataset.error = (answer && answer.error) || "";
      say("#silence-message", "error", () => errorNodes(status, answer));
    }
  }

  async function expireSilence(silenceId) {
    const { status, ok, body } = await local.api(`/api/v1/silences/${encodeURIComponent(silenceId)}/expire`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (ok) {
      receive(body);
      say("#silence-message", "ok", () => i18n.nodes("silences.expired", { id: ltr(silenceId, "ltr ident") }));
    } else {
      say("#silence-message", "error", () => errorNodes(status, body));
    }
  }

  /** An audit outcome: "ok", or "refused:<code>" with the refusal's code left to right. */
  function outcomeNodes(outcome) {
    const text = String(outcome ?? "");
    if (text.startsWith("refused:")) return i18n.nodes("audit.outcome.refused", { code: ltr(text.slice("refused:".length), "ltr code") });
    return i18n.has(`audit.outcome.${text}`) ? i18n.t(`audit.outcome.${text}`) : ltr(text, "ltr code");
  }

  /** What was done, by its label; the code stays on data-what (and as a tooltip). */
  function whatNode(what) {
    const key = `audit.what.${what}`;
    const node = el("span", { class: "audit-what", dataset: { what }, title: what }, i18n.has(key) ? i18n.t(key) : ltr(what, "ltr code"));
    return node;
  }

  function renderAudit() {
    const entries = local.audit ? local.audit.entries : [];
    $("#audit-rows").replaceChildren(
      ...entries.map((e) =>
        el(
          "tr",
          { dataset: { what: e.what, officer: e.officer } },
          el("td", { class: "mono" }, utc(e.occurred_at)),
          el("td", {}, i18n.nodes("audit.officer_agency", { officer: ltr(e.officer, "ltr ident"), agency: ltr(e.agency || "-", "ltr ident") })),
          el("td", {}, whatNode(e.what)),
          el("td", { class: "mono" }, ltr(e.alert_id || e.silence_id || "", "ltr ident")),
          el("td", { dataset: { outcome: e.outcome ?? "" } }, outcomeNodes(e.outcome)),
          el("td", { class: "mono" }, ltr(e.client_address, "ltr ident")),
          el("td", {}, el("bdi", { dir: "auto", lang: "en" }, e.detail ?? "")),
        ),
      ),
    );
  }

  async function searchAudit() {
    const params = new URLSearchParams();
    for (const name of ["alert", "officer"]) {
      const value = $(`#audit-${name}`).value.trim();
      if (value) params.set(name, value);
    }
    say("#audit-message", "", () => i18n.t("audit.searching"));
    const { status, ok, body } = await local.api(`/api/v1/audit?${params}`);
    if (!ok) {
      say("#audit-message", "error", () => errorNodes(status, body));
      return;
    }
    say("#audit-message", "ok", () => i18n.pluralNodes("audit.count", body.count));
    local.audit = body;
    renderAudit();
  }

  /** The language changed (console.js useLocale): say everything again in it. */
  function relocalize() {
    render();
    renderAudit();
    for (const [selector, { kind, make }] of Object.entries(local.messages)) say(selector, kind, make);
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
    local.audit = null;
    for (const selector of Object.keys(local.messages)) $(selector).replaceChildren();
    local.messages = {};
    render();
    renderAudit();
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

  window.BorderbusSilences = { receive, signedIn, signedOut, refresh, relocalize };
})();
