// borderbus console: languages. Every word comes from a message catalogue (console/i18n/<locale>.json for the
// interface, /console/summaries/<locale>.json for alert summaries, the same templates the correlator renders English
// from), never from code. Identifiers, numbers and times are isolated left to right (<bdi dir="ltr">) so they read the
// same inside right-to-left Arabic text; dates and numbers are formatted by Intl for the locale.
"use strict";

(function () {
  const LOCALES = { en: "ltr", ar: "rtl" };
  const DEFAULT_LOCALE = "en";
  const PLACEHOLDER = /\{([a-z_]+)\}/g;
  const GROUP = /\[([^[\]]*)\]/g;
  const HOUR_MS = 3600000;

  const i18n = {
    locale: DEFAULT_LOCALE,
    dir: "ltr",
    messages: {},
    summaries: {},
    fallback: {},
    points: {}, // border point code -> {code, name, names: {locale: name}}, from /api/v1/border-points
    locales: Object.keys(LOCALES),
  };

  async function fetchJson(path) {
    const response = await fetch(path, { cache: "no-store" });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  /** Switch the whole document to ``locale``: catalogues, lang, dir, and every [data-i18n] element. */
  i18n.load = async function (locale) {
    if (!(locale in LOCALES)) locale = DEFAULT_LOCALE;
    const [messages, summaries, fallback] = await Promise.all([
      fetchJson(`/console/i18n/${locale}.json`),
      fetchJson(`/console/summaries/${locale}.json`),
      locale === DEFAULT_LOCALE ? null : fetchJson(`/console/i18n/${DEFAULT_LOCALE}.json`),
    ]);
    Object.assign(i18n, { locale, dir: LOCALES[locale], messages, summaries, fallback: fallback || messages });
    document.documentElement.lang = locale;
    document.documentElement.dir = LOCALES[locale];
    i18n.apply(document);
    return locale;
  };

  function message(key) {
    if (key in i18n.messages) return i18n.messages[key];
    if (key in i18n.fallback) return i18n.fallback[key];
    return key;
  }

  i18n.has = (key) => key in i18n.messages || key in i18n.fallback;

  /** The message ``key`` as plain text, ``{name}`` replaced by ``params[name]``. */
  i18n.t = function (key, params = {}) {
    return message(key).replace(PLACEHOLDER, (_, name) => (name in params ? String(params[name]) : ""));
  };

  /** The message ``key`` as DOM nodes: params that are Nodes go in as they are (isolated identifiers). */
  i18n.nodes = function (key, params = {}) {
    const fragment = document.createDocumentFragment();
    let last = 0;
    const template = message(key);
    for (const match of template.matchAll(PLACEHOLDER)) {
      fragment.append(template.slice(last, match.index));
      const value = params[match[1]];
      fragment.append(value instanceof Node ? value : String(value ?? ""));
      last = match.index + match[0].length;
    }
    fragment.append(template.slice(last));
    return fragment;
  };

  /** A counted message: ``key.<plural category>`` (Arabic has zero, one, two, few, many, other), else ``key.other``. */
  i18n.plural = function (key, count, params = {}) {
    const category = new Intl.PluralRules(i18n.locale).select(count);
    const chosen = i18n.has(`${key}.${category}`) ? `${key}.${category}` : `${key}.other`;
    return i18n.t(chosen, { ...params, count: i18n.number(count) });
  };

  /** ``i18n.plural`` as DOM nodes: params that are Nodes (isolated identifiers, lists of them) go in as they are. */
  i18n.pluralNodes = function (key, count, params = {}) {
    const category = new Intl.PluralRules(i18n.locale).select(count);
    const chosen = i18n.has(`${key}.${category}`) ? `${key}.${category}` : `${key}.other`;
    return i18n.nodes(chosen, { count: i18n.ltr(i18n.number(count), "ltr number"), ...params });
  };

  i18n.number = function (value, fractionDigits = 0, { grouping = true } = {}) {
    return new Intl.NumberFormat(i18n.locale, {
      minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits, useGrouping: grouping,
    }).format(value); // prettier-ignore
  };

  /** A decimal written by an agency ("15000.00", "0.87") in the locale's digits, its decimals kept, not grouped. */
  i18n.decimal = function (text) {
    const value = String(text ?? "");
    return value !== "" && Number.isFinite(Number(value)) ? i18n.number(Number(value), decimals(value), { grouping: false }) : value;
  };

  /** A border point's name in the current locale (``names`` in border_points.yaml), else its English name, else null. */
  i18n.placeName = function (code) {
    const point = i18n.points[code];
    if (!point) return null;
    return (point.names && point.names[i18n.locale]) || point.name || null;
  };

  /** A code's label from the catalogue (``code.<group>.<code>``) or, unlabelled, the code as a left-to-right isolate.
   *  English labels are the codes themselves, so English text reads as the bus writes it. */
  i18n.code = function (group, code) {
    if (code === null || code === undefined || code === "") return null;
    const key = `code.${group}.${code}`;
    const label = i18n.has(key) ? i18n.t(key) : code;
    if (label === code) return i18n.ltr(code, "ltr code");
    const node = document.createElement("span");
    node.className = "code-label";
    node.dataset.code = code;
    node.title = code;
    node.textContent = label;
    return node;
  };

  /** The interface message ``key`` as nodes, with optional [groups] dropped when a value inside is null
   *  (the same template language as the summaries); ``values`` maps names to Nodes, strings or null. */
  i18n.compose = function (key, values) {
    return fillTemplate(message(key), (name) => {
      const value = values[name];
      if (value === null || value === undefined || value === "") return null;
      return value instanceof Node ? value : document.createTextNode(String(value));
    });
  };

  /** A UTC moment as YYYY-MM-DD HH:MM in the locale's digits: one unambiguous left-to-right shape in every language. */
  i18n.time = function (value, { seconds = false } = {}) {
    if (value === null || value === undefined || value === "") return "";
    const moment = new Date(typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value);
    if (Number.isNaN(moment.getTime())) return String(value);
    const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" };
    if (seconds) options.second = "2-digit";
    const parts = Object.fromEntries(new Intl.DateTimeFormat(i18n.locale, options).formatToParts(moment).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}${seconds ? ":" + parts.second : ""}`;
  };

  /** A UTC calendar day written out in the locale (a timeline's day heading). */
  i18n.day = function (value) {
    return new Intl.DateTimeFormat(i18n.locale, { dateStyle: "full", timeZone: "UTC" }).format(new Date(value));
  };

  /** A left-to-right isolate: identifiers, codes, numbers and times inside any text. */
  i18n.ltr = function (text, className = "ltr") {
    const node = document.createElement("bdi");
    node.dir = "ltr";
    node.className = className;
    node.textContent = text;
    return node;
  };

  i18n.timeNode = function (value, options) {
    const node = i18n.ltr("", "ltr time");
    const time = document.createElement("time");
    const moment = new Date(typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value);
    if (!Number.isNaN(moment.getTime())) time.dateTime = moment.toISOString();
    time.textContent = `${i18n.time(value, options)} UTC`;
    node.append(time);
    return node;
  };

  /** Fill [data-i18n] text and [data-i18n-attr="attr:key;attr:key"] attributes under ``root``. */
  i18n.apply = function (root) {
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = i18n.t(node.dataset.i18n);
    for (const node of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of node.dataset.i18nAttr.split(";")) {
        const [attribute, key] = pair.split(":");
        if (attribute && key) node.setAttribute(attribute.trim(), i18n.t(key.trim()));
      }
    }
  };

  // ---------- alert summaries from structured phrases (alert schema v3 summary_phrases) ----------

  function summaryTemplate(key) {
    const template = i18n.summaries[key];
    if (template === undefined) throw new Error(`no summary template ${key} in ${i18n.locale}`);
    return template;
  }

  function separated(nodes) {
    const fragment = document.createDocumentFragment();
    nodes.forEach((node, index) => {
      if (index) fragment.append(summaryTemplate("list.separator"));
      fragment.append(node);
    });
    return fragment;
  }

  function decimals(text) {
    const dot = text.indexOf(".");
    return dot === -1 ? 0 : text.length - dot - 1;
  }

  /** One parameter as nodes, or null when it has no value (so an optional group around it is dropped). */
  function paramNodes(param, params) {
    const values = param.values || [];
    if (!values.length) return param.kind === "PLACE" ? document.createTextNode(summaryTemplate("place.none")) : null;
    const first = values[0];
    switch (param.kind) {
      case "IDENTIFIER":
        return separated(values.map((value) => i18n.ltr(value, "ltr ident")));
      case "NUMBER":
        return i18n.ltr(Number.isFinite(Number(first)) ? i18n.number(Number(first), decimals(first)) : first, "ltr number");
      case "TIME":
        return i18n.timeNode(first);
      case "DURATION": {
        const ms = Number(first);
        const hours = ms >= HOUR_MS;
        const amount = i18n.ltr(hours ? i18n.number(ms / HOUR_MS, 1) : i18n.number(Math.round(ms / 60000)), "ltr number");
        return fillTemplate(summaryTemplate(hours ? "duration.hours" : "duration.minutes"), () => amount);
      }
      case "PLACE": {
        const name = i18n.placeName(first);
        const text = name ? summaryTemplate("place.named").replace("{code}", first).replace("{name}", name) : first;
        return i18n.ltr(text, "ltr place");
      }
      case "MONEY": {
        const [amount, currency] = values;
        let text = values.join(" ");
        if (currency && Number.isFinite(Number(amount))) {
          try {
            text = new Intl.NumberFormat(i18n.locale, { style: "currency", currency, maximumFractionDigits: decimals(amount) }).format(Number(amount));
          } catch {
            text = values.join(" ");
          }
        }
        return i18n.ltr(text, "ltr money");
      }
      case "KEY":
        return fillTemplate(summaryTemplate(first), (name) => (name in params ? paramNodes(params[name], params) : null));
      default: {
        const node = document.createElement("bdi");
        node.textContent = values.join(" ");
        return node;
      }
    }
  }

  /** The template with optional [groups] kept or dropped and {placeholders} replaced by nodes (see borderbus/phrases.py). */
  function fillTemplate(template, valueOf) {
    const cache = new Map();
    const value = (name) => {
      if (!cache.has(name)) cache.set(name, valueOf(name));
      return cache.get(name);
    };
    const kept = template.replace(GROUP, (_, inner) => ([...inner.matchAll(PLACEHOLDER)].every((m) => value(m[1]) !== null) ? inner : ""));
    const fragment = document.createDocumentFragment();
    let last = 0;
    for (const match of kept.matchAll(PLACEHOLDER)) {
      fragment.append(kept.slice(last, match.index));
      const node = value(match[1]);
      if (node !== null) fragment.append(node.cloneNode(true));
      last = match.index + match[0].length;
    }
    fragment.append(kept.slice(last));
    return fragment;
  }

  /** The alert's summary in the current locale, or null when the alert carries no phrases (older versions). */
  i18n.summary = function (phrases) {
    if (!phrases || !phrases.length) return null;
    const fragment = document.createDocumentFragment();
    phrases.forEach((phrase, index) => {
      const params = Object.fromEntries((phrase.params || []).map((param) => [param.name, param]));
      if (index) fragment.append(" ");
      fragment.append(fillTemplate(summaryTemplate(phrase.template), (name) => (name in params ? paramNodes(params[name], params) : null)));
    });
    return fragment;
  };

  window.Borderbus = Object.assign(window.Borderbus || {}, { i18n });
})();
