// Progressive enhancement for the pages rendered by assistant/api/routers/pages.py: ask without
// reloading, open a cited source inside the page (so Back returns to the card you left, the
// conversation intact), switch the interface language without losing the conversation, copy and
// share citations, send feedback when the operator turned it on, and leave quickly.
//
// Private mode (the default, PAGE.private): the conversation lives only in this script's memory;
// no question goes into the address, the tab's title, the history's state or any storage. Off,
// each answer has its own address and history entry (Back and Forward walk the conversation).
// Data only ever reaches the page through textContent and attributes; every word of the interface
// comes from the server's catalogue, in the page's language (#page-data).
"use strict";

let PAGE = readPageData();
let MESSAGES = (PAGE && PAGE.messages) || {};
const ESCAPE_TWICE_MS = 1000;

// What the chat page holds: the exchanges (each {request, answer}), and where a source was opened
// from (the link's position among the thread's links, and the scroll offset).
const chat = { conversation: [], busy: false, source: null, returnTo: null, chatView: null };

(function () {
  watchForLeaving();
  if (document.getElementById("ask-form") && PAGE) startChat();
  const passage = document.getElementById("passage");
  if (passage) passage.scrollIntoView({ block: "center" });
})();

function readPageData(root = document) {
  const node = root.getElementById("page-data");
  if (!node) return null;
  try {
    return JSON.parse(node.textContent);
  } catch {
    return null;
  }
}

// A message of the interface, its {fields} filled in.
function t(key, params = {}) {
  const text = MESSAGES[key] || key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

function byId(id) {
  return document.getElementById(id);
}

// "Leave quickly" and Escape pressed twice: empty the conversation, then replace this page in the
// tab's history with the neutral one, so Back does not come back to it. On every page.
function watchForLeaving() {
  let lastEscape = 0;
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element && event.target.closest("a#leave");
    if (link) {
      event.preventDefault();
      leave();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.repeat) return;
    const now = Date.now();
    if (now - lastEscape < ESCAPE_TWICE_MS) leave();
    lastEscape = now;
  });
}

function leave() {
  const link = byId("leave");
  chat.conversation = [];
  const thread = byId("thread");
  if (thread) thread.replaceChildren();
  const box = byId("question");
  if (box) box.value = "";
  document.title = "";
  location.replace((link && link.dataset.href) || "about:blank");
}

function startChat() {
  history.scrollRestoration = "manual";
  const state = history.state;
  if (!PAGE.private && state && Array.isArray(state.conversation)) {
    // A reload: show the conversation as it was.
    chat.conversation = state.conversation;
    renderConversation();
  } else if (PAGE.answer && PAGE.request) {
    // A shared link (or the page without JS): the answer the server rendered starts the
    // conversation; in private mode the question then leaves the address.
    chat.conversation = [{ request: PAGE.request, answer: PAGE.answer }];
    revealActions(byId("thread"));
  }
  history.replaceState(chatState(), "", PAGE.private ? chatAddress() : location.href);
  bindChat();
  updateLanguageLinks();
  window.addEventListener("popstate", onPopState);
  document.addEventListener("focusin", keepFocusUncovered);
}

// The listeners of the chat page's elements (again after a language switch rebuilt them).
function bindChat() {
  const form = byId("ask-form");
  const box = byId("question");
  byId("ask-hint").textContent = t("hint_js");
  byId("about").addEventListener("click", (event) => {
    event.preventDefault();
    const intro = byId("intro");
    intro.hidden = !intro.hidden;
    if (!intro.hidden) intro.focus();
  });
  byId("clear").addEventListener("click", (event) => {
    event.preventDefault();
    clearConversation();
  });
  form.querySelector("a.clear-filters").addEventListener("click", (event) => {
    event.preventDefault();
    fillFilters(null);
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask(readForm());
  });
  for (const link of document.querySelectorAll("a.example")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      box.value = link.textContent;
      ask(readForm());
    });
  }
  for (const link of document.querySelectorAll("nav.languages a[data-lang]")) {
    link.addEventListener("click", (event) => {
      if (!plainClick(event)) return;
      event.preventDefault();
      switchLanguage(link.dataset.lang);
    });
  }
  byId("thread").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button && button.closest(".actions")) return act(button);
    const link = event.target.closest("a");
    if (link && plainClick(event) && new URL(link.href).pathname.startsWith("/documents/")) {
      event.preventDefault();
      openSource(link);
    }
  });
  watchDock(form);
}

// A click that would open the link in this tab (not a new tab or window).
function plainClick(event) {
  return event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey && !event.altKey;
}

// The history entry of the conversation: in private mode it holds no question.
function chatState() {
  return PAGE.private ? { chat: true } : { chat: true, conversation: chat.conversation };
}

function chatAddress() {
  return PAGE.carry ? `/?lang=${PAGE.lang}` : "/";
}

function chatTitle() {
  const last = chat.conversation[chat.conversation.length - 1];
  return last && !PAGE.private ? `${last.request.q} — ${baseTitle()}` : baseTitle();
}

function readForm() {
  const data = new FormData(byId("ask-form"));
  const year = (name) => {
    const value = String(data.get(name) || "").trim();
    return value === "" ? null : /^\d+$/.test(value) ? Number(value) : value;
  };
  return {
    q: String(data.get("q") || "").trim(),
    doc_ids: data.getAll("doc_ids").map(String),
    year_from: year("year_from"),
    year_to: year("year_to"),
    language: String(data.get("language") || "") || null,
    k: null,
  };
}

// The filters of a request (the question box stays empty: the question is in the thread).
function fillFilters(request) {
  const form = byId("ask-form");
  const ids = new Set((request && request.doc_ids) || []);
  for (const check of form.querySelectorAll("input[name=doc_ids]")) check.checked = ids.has(check.value);
  form.elements.year_from.value = (request && request.year_from) || "";
  form.elements.year_to.value = (request && request.year_to) || "";
  form.elements.language.value = (request && request.language) || "";
}

function renderConversation() {
  const thread = byId("thread");
  thread.replaceChildren(...chat.conversation.map((entry, i) => renderExchange(entry, i + 1)));
  const last = chat.conversation[chat.conversation.length - 1];
  fillFilters(last ? last.request : null);
  showingConversation(chat.conversation.length > 0);
  document.title = chatTitle();
}

// The intro on an empty page; "About this collection" and "Clear conversation" beside a conversation.
function showingConversation(shown) {
  byId("intro").hidden = shown;
  byId("about").hidden = !shown;
  byId("clear").hidden = !shown;
  byId("page-heading").classList.toggle("visually-hidden", shown);
}

function updateLanguageLinks() {
  const last = chat.conversation[chat.conversation.length - 1];
  for (const link of document.querySelectorAll("nav.languages a[data-lang]")) {
    link.href = last && !PAGE.private ? addressOf(last.request, link.dataset.lang) : `/?lang=${link.dataset.lang}`;
  }
}

function clearConversation() {
  if (chat.source) showChat(); // "Clear conversation" is in the form, which stays beside a source
  chat.conversation = [];
  chat.returnTo = null;
  renderConversation();
  byId("question").value = "";
  history.replaceState(chatState(), "", chatAddress());
  updateLanguageLinks();
  byId("question").focus();
}

async function askServer(request, lang) {
  const response = await fetch("/api/ask", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "Accept-Language": lang },
    body: JSON.stringify(requestBody(request)),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || t("server_answered", { status: response.status }));
  return body;
}

async function ask(request) {
  if (!request.q || chat.busy) return;
  if (chat.source) {
    showChat();
    history.pushState(chatState(), "", chatAddress());
  }
  const box = byId("question");
  const button = byId("ask-form").querySelector("button[type=submit]");
  const thread = byId("thread");
  chat.busy = true;
  button.disabled = true;
  box.value = "";
  thread.setAttribute("aria-busy", "true");
  const number = chat.conversation.length + 1;
  const article = exchangeShell(request.q, number);
  const loading = el("p", { className: "loading", textContent: t("searching") });
  loading.setAttribute("role", "status");
  article.append(loading);
  thread.append(article);
  showingConversation(true);
  article.scrollIntoView({ block: "start" });

  try {
    const answer = await askServer(request, PAGE.lang);
    chat.conversation = [...chat.conversation, { request, answer }];
    if (!PAGE.private) history.pushState(chatState(), "", addressOf(request));
    document.title = chatTitle();
    updateLanguageLinks();
    const answered = renderExchange({ request, answer }, number);
    article.replaceWith(answered);
    // The new exchange starts the screen: the question, then the best sentence with its source and
    // how recent it is (the compact answer), then the ranked passages.
    answered.scrollIntoView({ block: "start" });
  } catch (error) {
    const message = el("p", { className: "error", textContent: t("could_not_answer", { error: error.message }) });
    message.setAttribute("role", "alert");
    loading.replaceWith(message);
    if (!box.value) box.value = request.q; // to try again
  } finally {
    chat.busy = false;
    button.disabled = false;
    thread.removeAttribute("aria-busy");
    const heading = thread.querySelector(`#question-${number}`);
    if (heading) heading.focus({ preventScroll: true });
  }
}

// A cited source, shown in place of the conversation (which stays in memory, its elements kept):
// the address is the source's, and Back comes back to the link it was opened from.
async function openSource(link) {
  const links = [...byId("thread").querySelectorAll("a")];
  chat.returnTo = { index: links.indexOf(link), scrollY: window.scrollY };
  const href = link.getAttribute("href");
  if (await showSource(href)) history.pushState({ source: href }, "", href);
  else location.assign(href);
}

async function showSource(href) {
  let page;
  try {
    const response = await fetch(href, { headers: { Accept: "text/html" } });
    if (!response.ok) return false;
    page = new DOMParser().parseFromString(await response.text(), "text/html");
  } catch {
    return false;
  }
  const article = page.querySelector("main article.source");
  if (!article) return false;
  const view = el("div", { id: "source-view" });
  view.append(document.adoptNode(article));
  if (!chat.source) {
    chat.chatView = byId("chat-view");
    chat.chatView.replaceWith(view);
  } else {
    byId("source-view").replaceWith(view);
  }
  chat.source = href;
  document.title = page.title;
  view.addEventListener("click", (event) => {
    const target = event.target.closest("a");
    if (!target || !plainClick(event)) return;
    if (target.closest(".back-link")) {
      event.preventDefault();
      history.back();
    } else if (target.getAttribute("href").startsWith("#")) {
      event.preventDefault(); // an in-page jump, without a history entry of its own
      const spot = byId(target.getAttribute("href").slice(1));
      if (spot) spot.scrollIntoView({ block: "center" });
    }
  });
  const passage = byId("passage");
  if (passage) passage.scrollIntoView({ block: "center" });
  else window.scrollTo(0, 0);
  const heading = view.querySelector("h1");
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
  return true;
}

// Back to the conversation, scrolled and focused where the reader left it.
function showChat() {
  if (chat.source) {
    byId("source-view").replaceWith(chat.chatView);
    chat.source = null;
  }
  document.title = chatTitle();
  const back = chat.returnTo;
  if (!back) return;
  window.scrollTo(0, back.scrollY);
  const link = [...byId("thread").querySelectorAll("a")][back.index];
  if (link) link.focus({ preventScroll: true });
}

async function onPopState(event) {
  const state = event.state || {};
  if (state.source) {
    if (!(await showSource(state.source))) location.reload();
    return;
  }
  if (!PAGE.private && Array.isArray(state.conversation) &&
      JSON.stringify(state.conversation) !== JSON.stringify(chat.conversation)) {
    chat.conversation = state.conversation;
    renderConversation();
  }
  showChat();
  updateLanguageLinks();
}

// The interface in another language, the conversation kept: the page is fetched in that language
// and each question asked again, so the server's own sentences (a refusal's reason) follow.
async function switchLanguage(lang) {
  let page;
  try {
    const response = await fetch(`/?lang=${encodeURIComponent(lang)}`, { headers: { Accept: "text/html" } });
    if (!response.ok) throw new Error(String(response.status));
    page = new DOMParser().parseFromString(await response.text(), "text/html");
  } catch {
    location.assign(`/?lang=${encodeURIComponent(lang)}`);
    return;
  }
  const answers = await Promise.all(chat.conversation.map((entry) => askServer(entry.request, lang).catch(() => entry.answer)));
  chat.conversation = chat.conversation.map((entry, i) => ({ request: entry.request, answer: answers[i] }));
  const source = chat.source;
  const filters = readForm();
  chat.source = null;
  PAGE = readPageData(page);
  MESSAGES = PAGE.messages;
  document.documentElement.lang = lang;
  document.body.replaceWith(document.adoptNode(page.body));
  bindChat();
  renderConversation();
  if (!chat.conversation.length) fillFilters(filters);
  updateLanguageLinks();
  const last = chat.conversation[chat.conversation.length - 1];
  history.replaceState(chatState(), "", last && !PAGE.private ? addressOf(last.request) : chatAddress());
  if (source) {
    const address = new URL(source, location.origin);
    address.searchParams.set("lang", lang);
    const href = address.pathname + address.search + address.hash;
    if (await showSource(href)) history.replaceState({ source: href }, "", href);
  }
  const current = document.querySelector(`nav.languages a[data-lang="${lang}"]`);
  if (current && !source) current.focus();
}

// The ask form sticks to the bottom of the screen: whatever gets focus is scrolled out from under
// it (and from under "Leave quickly" in the corner), WCAG 2.4.11.
function watchDock(form) {
  const root = document.documentElement;
  new ResizeObserver(() => root.style.setProperty("--dock-height", `${Math.ceil(form.offsetHeight)}px`)).observe(form);
}

function keepFocusUncovered(event) {
  const target = event.target;
  const form = byId("ask-form");
  if (!(target instanceof Element) || !form || form.contains(target) || target === document.body) return;
  if (target.closest("#leave")) return;
  requestAnimationFrame(() => {
    const box = target.getBoundingClientRect();
    const dock = form.getBoundingClientRect();
    const corner = byId("leave").getBoundingClientRect();
    if (box.bottom > dock.top && box.top < dock.bottom) {
      window.scrollBy(0, box.bottom - dock.top + 8);
    } else if (box.top < corner.bottom && box.bottom > corner.top && box.right > corner.left && box.left < corner.right) {
      window.scrollBy(0, box.top - corner.bottom - 8);
    }
  });
}

function act(target) {
  const card = target.closest("li.card");
  const exchange = target.closest("article.exchange");
  const entry = chat.conversation[Number(exchange.dataset.number) - 1];
  if (!card || !entry) return;
  const result = entry.answer.results[Number(card.dataset.rank) - 1];
  const status = card.querySelector(".action-status");
  if (target.classList.contains("copy")) {
    copyText(formatCitation(result, "text"), target, t("copied"), status);
  } else if (target.dataset.format) {
    target.closest("details").open = false;
    copyText(formatCitation(result, target.dataset.format), card.querySelector("button.copy"), t("copied"), status);
  } else if (target.classList.contains("share")) {
    // The address is made only now, on request; in private mode it says that it holds the question.
    const done = PAGE.private ? t("link_copied_private") : t("link_copied");
    copyText(new URL(addressOf(entry.request), location.origin).href, target, done, status);
  } else if (target.dataset.verdict) {
    sendFeedback(entry, result, target, status);
  }
}

function baseTitle() {
  const home = document.querySelector("header.site .home");
  return home ? home.textContent : document.title;
}

// The address of an answer: its question and filters, and the interface language when it was chosen.
function addressOf(request, lang) {
  const query = new URLSearchParams();
  query.append("q", request.q);
  for (const id of request.doc_ids || []) query.append("doc_ids", id);
  for (const name of ["year_from", "year_to", "language", "k"]) {
    if (request[name] !== null && request[name] !== undefined && request[name] !== "") query.append(name, request[name]);
  }
  const language = lang || (PAGE.carry ? PAGE.lang : null);
  if (language) query.append("lang", language);
  return `/?${query}`;
}

function requestBody(request) {
  const body = { question: request.q };
  if (request.doc_ids && request.doc_ids.length) body.doc_ids = request.doc_ids;
  for (const name of ["year_from", "year_to", "language", "k"]) {
    if (request[name] !== null && request[name] !== undefined && request[name] !== "") body[name] = request[name];
  }
  return body;
}

function exchangeShell(question, number) {
  const article = el("article", { className: "exchange" });
  article.setAttribute("aria-labelledby", `question-${number}`);
  article.dataset.number = String(number);
  const heading = el("h2", { className: "question", id: `question-${number}`, tabIndex: -1 });
  heading.append(el("span", { className: "visually-hidden", textContent: t("question") }), question);
  article.append(heading);
  return article;
}

// The same markup as the `exchange` macro of web/templates/_macros.html.
function renderExchange(entry, number) {
  const answer = entry.answer;
  const article = exchangeShell(answer.question, number);
  if (answer.abstained) {
    const notice = el("p", { className: "abstained", textContent: t("not_covered") });
    if (answer.abstain_reason) {
      notice.append(" ", el("span", { className: "abstain-reason", textContent: `(${answer.abstain_reason})` }));
    }
    article.append(notice);
  } else if (answer.missing_note) {
    article.append(el("p", { className: "partial", textContent: answer.missing_note }));
  }
  if (!answer.results.length) {
    article.append(el("p", { className: "empty", textContent: t("no_passages") }));
    return article;
  }
  if (!answer.abstained) article.append(renderBest(answer, number));
  const label = answer.abstained ? t("nearest") : t("best_first");
  article.append(el("h3", { className: "results-label", textContent: label }));
  const list = el("ol", { className: answer.abstained ? "cards nearest" : "cards" });
  for (const result of answer.results) list.append(renderCard(result, number));
  article.append(list);
  // Below the ranked passages, newest first: the first quotation a reader meets is the current one.
  const span = answer.sources_span;
  if (span && !answer.abstained) {
    article.append(el("p", { className: "span-note", textContent: t("span_note", { oldest: span[0], newest: span[1] }) }));
  }
  if (answer.timeline && !answer.abstained) article.append(renderTimeline(answer.timeline, number));
  return article;
}

// The answer at a glance: rank 1's highlighted sentence, its source and how recent the sources are.
function renderBest(answer, number) {
  const best = answer.results[0];
  const c = best.citation;
  const section = el("section", { className: "best" });
  section.setAttribute("aria-labelledby", `best-${number}`);
  const cite = el("p", { className: "cite" });
  cite.append(...badges(best), " ", linkTo(c, best.rank, "best-link"));
  const quote = el("blockquote", { className: "best-quote", cite: sourceLink(c), lang: c.language || "en" });
  const p = el("p");
  p.append(el("mark", { textContent: best.text.slice(best.highlight.start, best.highlight.end) }));
  quote.append(p);
  section.append(el("h3", { className: "best-label", id: `best-${number}`, textContent: t("best_match") }), cite, quote);
  if (answer.as_of) {
    const notes = [t("as_of", { year: answer.as_of })];
    if (answer.data_age_note) notes.push(t("data_age", { year: answer.as_of }));
    section.append(el("p", { className: answer.data_age_note ? "as-of old" : "as-of", textContent: notes.join(" ") }));
  }
  return section;
}

// The year and newest/older badges that open a citation line.
function badges(result) {
  const c = result.citation;
  const year = el("span", { className: "badge year" });
  year.append(el("span", { className: "visually-hidden", textContent: t("source_year") }), yearLabel(c));
  const nodes = [year];
  const badge = recencyBadge(result);
  if (badge) nodes.push(" ", el("span", { className: `badge ${result.recency}`, textContent: badge }));
  return nodes;
}

function renderTimeline(entries, number) {
  const section = el("section", { className: "timeline" });
  section.setAttribute("aria-labelledby", `timeline-${number}`);
  section.append(el("h3", { id: `timeline-${number}`, textContent: t("timeline") }),
                 el("p", { className: "timeline-hint", textContent: t("timeline_hint") }));
  const list = el("ol");
  for (const entry of entries) {
    const c = entry.citation;
    const item = el("li");
    const quote = el("q", { textContent: entry.quote, lang: c.language || "en" });
    item.append(el("span", { className: "badge year", textContent: yearLabel(c) }), " ", quote, " ",
                linkTo(c, entry.rank, "timeline-cite"));
    list.append(item);
  }
  section.append(list);
  return section;
}

function renderCard(result, number) {
  const { text, highlight: h, citation: c } = result;
  const link = sourceLink(c);
  const quote = el("blockquote", { className: "passage", cite: link, lang: c.language || "en" });
  const p = el("p");
  p.append(text.slice(0, h.start), el("mark", { textContent: text.slice(h.start, h.end) }), text.slice(h.end));
  quote.append(p);
  const cite = el("p", { className: "cite" });
  cite.append(...badges(result), " ", linkTo(c, result.rank, "cite-link"));
  const card = el("li", { className: "card", id: `answer-${number}-${result.rank}` });
  card.dataset.rank = String(result.rank);
  card.append(cite, quote);
  if (!c.year && !c.year_estimate && c.date_note) card.append(el("p", { className: "date-note", textContent: t("date_note", { note: c.date_note }) }));
  for (const other of result.also_in || []) {
    const also = el("p", { className: "also-in", textContent: t("also_in") });
    also.append(linkTo(other, null, null));
    card.append(also);
  }
  card.append(renderActions(result));
  return card;
}

function renderActions(result) {
  const actions = el("div", { className: "actions" });
  actions.setAttribute("role", "group");
  actions.setAttribute("aria-label", t("actions", { rank: result.rank }));
  const menu = el("details", { className: "copy-as" });
  const items = el("div", { className: "copy-menu" });
  for (const [format, name] of [["text", t("plain_text")], ["markdown", "Markdown"], ["bibtex", "BibTeX"], ["csl", "CSL-JSON"]]) {
    const item = el("button", { type: "button", textContent: name });
    item.dataset.format = format;
    items.append(item);
  }
  const summary = el("summary", { title: t("copy_as") });
  summary.setAttribute("aria-label", t("copy_as"));
  menu.append(summary, items);
  actions.append(el("button", { type: "button", className: "copy", textContent: t("copy") }), " ", menu, " ",
                 el("button", { type: "button", className: "share", textContent: t("share") }));
  if (PAGE.feedback) {
    const group = el("span", { className: "feedback" });
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", t("feedback_label"));
    for (const verdict of ["answers", "wrong"]) {
      const button = el("button", { type: "button", textContent: t(verdict) });
      button.dataset.verdict = verdict;
      group.append(button, " ");
    }
    actions.append(" ", group);
  }
  const status = el("span", { className: "action-status" });
  status.setAttribute("role", "status");
  actions.append(" ", status);
  return actions;
}

function revealActions(root) {
  for (const actions of root.querySelectorAll(".actions")) actions.hidden = false;
}

// The same wording as assistant/ui.py (Ui.year_label, Ui.label, Ui.label_parts, Ui.recency_badge,
// Ui.recency_notes).
function yearLabel(c) {
  if (c.year) return String(c.year);
  return c.year_estimate ? t("year_unknown_cites", { year: c.year_estimate }) : t("year_unknown");
}

function source(c) {
  const name = c.publisher ? `${c.title} — ${c.publisher}` : c.title;
  return `${name}, ${c.year ? String(c.year) : t("no_date")}`;
}

function label(c) {
  const parts = [source(c)];
  if (c.section) parts.push(c.section);
  if (c.page) parts.push(t("page", { page: c.page }));
  return parts.join(" · ");
}

// The citation line as nodes: the source's own words (title, publisher, section) carry its language.
function citationNodes(rank, c) {
  const own = (text) => (c.language || "en") === PAGE.lang ? text : el("span", { lang: c.language || "en", textContent: text });
  const nodes = rank ? [`[${rank}] `] : [];
  nodes.push(own(c.publisher ? `${c.title} — ${c.publisher}` : c.title), `, ${c.year ? String(c.year) : t("no_date")}`);
  if (c.section) nodes.push(" · ", own(c.section));
  if (c.page) nodes.push(` · ${t("page", { page: c.page })}`);
  return nodes;
}

function linkTo(c, rank, className) {
  const link = el("a", { href: sourceLink(c) });
  if (className) link.className = className;
  link.append(...citationNodes(rank, c));
  return link;
}

function recencyBadge(result) {
  if (result.recency === "newest") return t("newest");
  if (result.recency === "older" && result.state_as_of) return t("state_as_of", { year: result.state_as_of });
  if (result.recency === "older") {
    const year = result.citation.year || result.citation.year_estimate;
    return year ? t("older", { year }) : t("older_unknown");
  }
  return null;
}

function sourceLink(c) {
  const query = new URLSearchParams({ start: c.start, end: c.end });
  if (PAGE && PAGE.carry) query.append("lang", PAGE.lang);
  return `/documents/${encodeURIComponent(c.doc_id)}?${query}#passage`;
}

// Copying: the highlighted quotation, the source with section and page, and the link to the passage.
function passageAddress(c) {
  const query = new URLSearchParams({ start: c.start, end: c.end });
  return new URL(`/documents/${encodeURIComponent(c.doc_id)}?${query}#passage`, location.origin).href;
}

function formatCitation(result, format) {
  const c = result.citation;
  const quote = result.text.slice(result.highlight.start, result.highlight.end).replace(/\s+/g, " ").trim();
  const address = passageAddress(c);
  if (format === "markdown") {
    const escaped = label(c).replace(/([\\[\]])/g, "\\$1");
    return `> ${quote}\n\n— [${escaped}](${address})`;
  }
  if (format === "bibtex") return bibtex(c, quote, address);
  if (format === "csl") return JSON.stringify([csl(c, quote, address)], null, 2);
  return `“${quote}”\n${label(c)}.\n${address}`;
}

function bibtexEscape(text) {
  return String(text).replace(/[\\{}%&$#_^~]/g, (ch) => ({
    "\\": "\\textbackslash{}", "^": "\\^{}", "~": "\\~{}",
  })[ch] || `\\${ch}`);
}

function bibtex(c, quote, address) {
  const key = `${c.doc_id.replace(/[^A-Za-z0-9]+/g, "_")}_${c.start}`;
  const fields = [["title", `{${bibtexEscape(c.title)}}`]];
  if (c.publisher) fields.push(["author", `{${bibtexEscape(c.publisher)}}`], ["publisher", bibtexEscape(c.publisher)]);
  if (c.year) fields.push(["year", String(c.year)]);
  if (c.page) fields.push(["pages", String(c.page)]);
  if (c.section) fields.push(["chapter", bibtexEscape(c.section)]);
  fields.push(["url", c.url || address]);
  if (c.language) fields.push(["langid", c.language]);
  fields.push(["note", bibtexEscape(`“${quote}” ${address}`)]);
  return `@misc{${key},\n${fields.map(([name, value]) => `  ${name} = {${value}}`).join(",\n")}\n}`;
}

function csl(c, quote, address) {
  const item = { id: `${c.doc_id}-${c.start}`, type: "document", title: c.title };
  if (c.publisher) {
    item.author = [{ literal: c.publisher }];
    item.publisher = c.publisher;
  }
  if (c.date) item.issued = { "date-parts": [c.date.split("-").map(Number)] };
  else if (c.year) item.issued = { "date-parts": [[c.year]] };
  if (c.page) item.page = String(c.page);
  if (c.section) item.section = c.section;
  if (c.language) item.language = c.language;
  item.URL = c.url || address;
  item.note = `“${quote}” ${address}`;
  return item;
}

async function copyText(text, button, done, status) {
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    const scratch = el("textarea", { value: text, readOnly: true });
    document.body.append(scratch);
    scratch.select();
    copied = document.execCommand("copy");
    scratch.remove();
  }
  status.textContent = copied ? done : t("copy_failed");
  if (copied && button) {
    const original = button.textContent;
    button.textContent = t("copied");
    setTimeout(() => (button.textContent = original), 2000);
  }
}

async function sendFeedback(entry, result, button, status) {
  const c = result.citation;
  const group = button.closest(".feedback");
  const body = {
    question: entry.answer.question,
    question_language: entry.answer.language,
    doc_id: c.doc_id,
    start: c.start,
    end: c.end,
    highlight: result.text.slice(result.highlight.start, result.highlight.end),
    verdict: button.dataset.verdict,
  };
  try {
    const response = await fetch("/api/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "Accept-Language": PAGE.lang },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || t("server_answered", { status: response.status }));
    for (const other of group.querySelectorAll("button")) other.setAttribute("aria-pressed", String(other === button));
    status.textContent = t("feedback_saved");
  } catch (error) {
    status.textContent = t("feedback_failed", { error: error.message });
  }
}

function el(tag, properties = {}) {
  return Object.assign(document.createElement(tag), properties);
}
