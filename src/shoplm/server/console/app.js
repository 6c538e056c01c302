// shoplm console: plain JavaScript over the HTTP API, no external assets.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { user: null, lastRecs: [] };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function notice(text, ok = false) {
  const box = $("notice");
  box.textContent = text;
  box.className = ok ? "ok" : "";
  box.hidden = !text;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  const key = $("api-key").value.trim();
  if (key) headers["X-API-Key"] = key;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return data;
}

function money(price) {
  return price === null || price === undefined ? "" : `$${Number(price).toFixed(2)}`;
}

function hitItem(hit, options = {}) {
  const item = hit.item || {};
  const facts = [item.brand, item.category, money(item.price), `score ${hit.score.toFixed(3)}`]
    .filter(Boolean)
    .join(" · ");
  const actions = el("span", { class: "actions" });
  actions.append(
    el("button", { class: "small", type: "button", title: "items like this", onclick: () => showSimilar(hit.item_id) }, "similar"),
  );
  if (options.events) {
    actions.append(
      el("button", { class: "small click", type: "button", onclick: () => sendEvent(hit.item_id, "click") }, "click"),
      el("button", { class: "small buy", type: "button", onclick: () => sendEvent(hit.item_id, "purchase") }, "buy"),
    );
  }
  const li = el(
    "li",
    { "data-item": hit.item_id },
    actions,
    el("div", { class: "title" }, item.title || hit.item_id),
    el("div", { class: "facts" }, `${hit.item_id} · ${facts}`),
    el("div", { class: "why" }, `why: ${hit.reason}`),
  );
  if (options.changed) li.classList.add("changed");
  return li;
}

function fill(list, hits, options = {}) {
  list.replaceChildren(...hits.map((hit) => hitItem(hit, options)));
  if (!hits.length) list.append(el("li", { class: "muted" }, "(no results)"));
}

// -- search --------------------------------------------------------------------------
async function search(event) {
  if (event) event.preventDefault();
  const q = $("search-q").value.trim();
  if (!q) return;
  const params = new URLSearchParams({ q, k: "10", method: $("search-method").value });
  if ($("search-personal").checked && state.user) params.set("user_id", state.user);
  try {
    const data = await api(`/v1/search?${params}`);
    $("search-meta").textContent = `${data.hits.length} results in ${data.took_ms} ms` +
      (data.user_id ? `, personalised for ${data.user_id}` : "");
    fill($("search-results"), data.hits, { events: Boolean(state.user) });
    notice("");
  } catch (error) {
    notice(`search failed: ${error.message}`);
  }
}

// -- users, profile and recommendations -------------------------------------------------
async function loadUsers() {
  try {
    const data = await api("/v1/users?limit=100");
    const pick = $("user-pick");
    pick.replaceChildren(el("option", { value: "" }, "pick a user…"), ...data.users.map((u) => el("option", { value: u }, u)));
  } catch (error) {
    notice(`cannot list users: ${error.message}`);
  }
}

function chips(rows) {
  const label = (r) => r.name ?? r.category ?? r.brand ?? "?";
  return el("span", { class: "chips" }, ...(rows || []).map((r) => el("span", {}, `${label(r)} (${r.weight})`)));
}

async function showProfile() {
  const data = await api(`/v1/users/${encodeURIComponent(state.user)}`);
  const types = Object.entries(data.event_types).map(([t, n]) => `${n} ${t}`).join(", ") || "no events yet";
  const box = $("profile");
  box.replaceChildren(
    el("div", {}, el("b", {}, data.user_id), ` · ${data.events} events (${types})`,
      data.known_to_fit ? " · known to the fit" : " · new since the fit"),
    el("div", {}, "likes: ", chips(data.top_categories), chips(data.top_brands)),
  );
  if (data.session) {
    const titles = data.session.items.slice(0, 4).map((i) => i.title || i.item_id).join(", ");
    box.append(el("div", { id: "session" }, `live session (strength ${data.session.strength}): ${titles}`));
  }
}

async function showRecs() {
  const data = await api(`/v1/recommend?user_id=${encodeURIComponent(state.user)}&k=10`);
  const before = new Set(state.lastRecs);
  const ids = data.hits.map((h) => h.item_id);
  const list = $("recs");
  list.replaceChildren(...data.hits.map((hit) => hitItem(hit, { events: true, changed: before.size > 0 && !before.has(hit.item_id) })));
  if (!data.hits.length) list.append(el("li", { class: "muted" }, "(no recommendations)"));
  const moved = ids.filter((id, i) => state.lastRecs[i] !== id).length;
  $("recs-meta").textContent = `${data.took_ms} ms` + (before.size ? ` · ${moved} places changed` : "");
  state.lastRecs = ids;
}

async function selectUser(event) {
  if (event) event.preventDefault();
  const typed = $("user-id").value.trim();
  const user = typed || $("user-pick").value;
  if (!user) return;
  state.user = user;
  state.lastRecs = [];
  try {
    await Promise.all([showProfile(), showRecs()]);
    notice("");
  } catch (error) {
    notice(`cannot show ${user}: ${error.message}`);
  }
  if ($("search-q").value.trim()) await search(); // results get this shopper's event buttons
}

async function sendEvent(itemId, type) {
  if (!state.user) {
    notice("pick a user first: events are sent as that user");
    return;
  }
  try {
    await api("/v1/events", { method: "POST", body: { user_id: state.user, item_id: itemId, type, value: type === "click" ? 30 : null } });
    $("event-log").prepend(el("li", {}, `${new Date().toLocaleTimeString()} ${state.user} ${type} ${itemId}`));
    await Promise.all([showProfile(), showRecs()]);
    notice(`${type} on ${itemId} recorded: recommendations updated`, true);
  } catch (error) {
    notice(`event not sent: ${error.message}`);
  }
}

// -- similar ---------------------------------------------------------------------------
async function showSimilar(itemId) {
  try {
    const data = await api(`/v1/items/${encodeURIComponent(itemId)}/similar?k=8`);
    $("similar-meta").textContent = `to ${itemId} (${data.model}, ${data.took_ms} ms)`;
    fill($("similar"), data.hits, { events: Boolean(state.user) });
  } catch (error) {
    notice(`similar failed: ${error.message}`);
  }
}

// -- task heads ----------------------------------------------------------------------------
async function loadHeads() {
  try {
    const data = await api("/v1/heads");
    const pick = $("head-pick");
    pick.replaceChildren(...data.heads.map((h) => el("option", { value: h.name }, `${h.name} (${h.task.kind})`)));
    if (!data.heads.length) {
      $("head-meta").textContent = "No task heads yet: train one with `shoplm heads train NAME --data FILE`.";
      $("head-go").disabled = true;
      return;
    }
    showHeadScores(data.heads);
    pick.addEventListener("change", () => showHeadScores(data.heads));
  } catch (error) {
    $("head-meta").textContent = `heads unavailable: ${error.message}`;
  }
}

function showHeadScores(heads) {
  const head = heads.find((h) => h.name === $("head-pick").value);
  const test = (head && head.metrics.test) || {};
  const headline = ["macro_f1", "accuracy", "auc", "log_loss", "rmse"].filter((name) => name in test);  // heads/scoring.py HEADLINE
  const shown = headline.slice(0, 3).map((name) => `${name} ${Number(test[name]).toFixed(3)}`);
  const asked = head && head.metrics.kept ? head.metrics.kept.asked : null;  // heads/home.py
  const chosen = asked && asked !== head.mode ? ` (validated above ${asked})` : "";
  $("head-meta").textContent = head ? `${head.mode} head${chosen}, test: ${shown.join(" · ") || "not scored"}` : "";
}

function answerItem(text, answer) {
  const probabilities = answer.probabilities || {};
  const top = probabilities[answer.label];
  const shown = answer.label ?? Number(answer.value).toFixed(2);
  const bar = top === undefined ? null : el("span", { class: "bar", style: `width:${Math.round(top * 4)}rem` });
  const detail = top === undefined
    ? (answer.label !== undefined && answer.value !== undefined && answer.value !== null ? `position ${Number(answer.value).toFixed(2)}` : "")
    : Object.entries(probabilities).map(([name, p]) => `${name} ${p.toFixed(2)}`).join(" · ");
  return el("li", { "data-label": String(shown) },
    el("div", { class: "title" }, bar, String(shown)),
    el("div", { class: "facts" }, text),
    el("div", { class: "why" }, detail));
}

async function predictHead(event) {
  if (event) event.preventDefault();
  const name = $("head-pick").value;
  const texts = $("head-texts").value.split("\n").map((t) => t.trim()).filter(Boolean);
  if (!name || !texts.length) return;
  try {
    const data = await api(`/v1/heads/${encodeURIComponent(name)}/predict`, { method: "POST", body: { texts } });
    $("head-answers").replaceChildren(...data.predictions.map((answer, i) => answerItem(texts[i], answer)));
    notice("");
  } catch (error) {
    notice(`prediction failed: ${error.message}`);
  }
}

// -- status and reports ------------------------------------------------------------------
async function loadHealth() {
  try {
    const data = await api("/health");
    const parts = Object.entries(data.platforms).map(([name, p]) =>
      `${name}: ${p.items ?? "?"} items${p.fitted ? "" : " (not fitted)"}${p.overlay && p.overlay.items ? `, ${p.overlay.items} live` : ""}`);
    $("health").textContent = `v${data.version} · ${parts.join(" · ") || "empty home"}`;
  } catch (error) {
    $("health").textContent = `server unreachable: ${error.message}`;
  }
}

async function loadReports() {
  try {
    const data = await api("/v1/reports");
    const latest = $("report-latest");
    if (!data.latest) {
      latest.textContent = "No evaluation report yet: run `shoplm evaluate … --report <home>/reports/NAME.html`.";
      return;
    }
    latest.replaceChildren("Latest evaluation report: ", el("a", { id: "report-link", href: data.latest, target: "_blank" }, data.reports[0].name));
    $("report-list").replaceChildren(...data.reports.slice(1, 10).map((r) =>
      el("li", {}, el("a", { href: r.url, target: "_blank" }, r.name), ` · ${new Date(r.modified_at * 1000).toLocaleString()}`)));
  } catch (error) {
    $("report-latest").textContent = `reports unavailable: ${error.message}`;
  }
}

async function loadApi() {
  try {
    const spec = await api("/openapi.json");
    const rows = [];
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        rows.push(el("li", {}, el("code", {}, `${method.toUpperCase()} ${path}`), ` ${op.summary || ""}`));
      }
    }
    $("api-list").replaceChildren(...rows);
  } catch (error) {
    $("api-list").replaceChildren(el("li", {}, `openapi.json unavailable: ${error.message}`));
  }
}

function init() {
  const saved = sessionStorage.getItem("shoplm-key");
  if (saved) $("api-key").value = saved;
  $("api-key").addEventListener("change", () => sessionStorage.setItem("shoplm-key", $("api-key").value.trim()));
  $("search-form").addEventListener("submit", search);
  $("user-form").addEventListener("submit", selectUser);
  $("user-pick").addEventListener("change", () => { $("user-id").value = ""; selectUser(); });
  $("head-form").addEventListener("submit", predictHead);
  loadHealth();
  loadHeads();
  loadUsers();
  loadReports();
  loadApi();
  document.body.dataset.ready = "1";
}

init();
