// Progressive enhancement for the pages rendered by assistant/web.py: ask without reloading, keep
// the conversation in the browser's history (each answer has its own address; Back and Forward walk
// the conversation), copy and share citations, send feedback when the operator turned it on, and
// centre a cited passage. Data only ever reaches the page through textContent and attributes; every
// word of the interface comes from the server's catalogue, in the page's language (#page-data).
"use strict";

const PAGE = readPageData();
const MESSAGES = (PAGE && PAGE.messages) || {};

(function () {
  const form = document.getElementById("ask-form");
  if (form && PAGE) startChat(form);

  const passage = document.getElementById("passage");
  if (passage) passage.scrollIntoView({ block: "center" });
})();

function readPageData() {
  const node = document.getElementById("page-data");
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

function startChat(form) {
  const box = form.querySelector("textarea");
  const button = form.querySelector("button[type=submit]");
  const thread = document.getElementById("thread");
  const intro = document.getElementById("intro");
  const about = document.getElementById("about");
  const hint = document.getElementById("ask-hint");
  let conversation = [];
  let busy = false;

  hint.textContent = t("hint_js");
  history.scrollRestoration = "manual";

  if (history.state && Array.isArray(history.state.conversation)) {
    // Back from a source page, or a reload: show the conversation as it was.
    conversation = history.state.conversation;
    renderConversation();
  } else if (PAGE.answer && PAGE.request) {
    conversation = [{ request: PAGE.request, answer: PAGE.answer }];
    history.replaceState({ conversation }, "", location.href);
    revealActions(thread);
  } else {
    history.replaceState({ conversation }, "", location.href);
  }
  updateLanguageLinks();

  about.addEventListener("click", (event) => {
    event.preventDefault();
    intro.hidden = !intro.hidden;
    if (!intro.hidden) intro.focus();
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
  window.addEventListener("popstate", (event) => {
    conversation = (event.state && event.state.conversation) || [];
    renderConversation();
    updateLanguageLinks();
  });
  thread.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (target && target.closest(".actions")) act(target);
  });

  function readForm() {
    const data = new FormData(form);
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

  function fillForm(request) {
    box.value = request ? request.q : "";
    const ids = new Set((request && request.doc_ids) || []);
    for (const check of form.querySelectorAll("input[name=doc_ids]")) check.checked = ids.has(check.value);
    form.elements.year_from.value = (request && request.year_from) || "";
    form.elements.year_to.value = (request && request.year_to) || "";
    form.elements.language.value = (request && request.language) || "";
  }

  function renderConversation() {
    thread.replaceChildren(...conversation.map((entry, i) => renderExchange(entry, i + 1)));
    const last = conversation[conversation.length - 1];
    fillForm(last ? last.request : null);
    intro.hidden = conversation.length > 0;
    about.hidden = conversation.length === 0;
    document.title = last ? `${last.request.q} — ${baseTitle()}` : baseTitle();
  }

  function updateLanguageLinks() {
    const last = conversation[conversation.length - 1];
    for (const link of document.querySelectorAll("nav.languages a[data-lang]")) {
      link.href = last ? addressOf(last.request, link.dataset.lang) : `/?lang=${link.dataset.lang}`;
    }
  }

  async function ask(request) {
    if (!request.q || busy) return;
    busy = true;
    button.disabled = true;
    thread.setAttribute("aria-busy", "true");
    const number = conversation.length + 1;
    const article = exchangeShell(request.q, number);
    const loading = el("p", { className: "loading", textContent: t("searching") });
    loading.setAttribute("role", "status");
    article.append(loading);
    thread.append(article);
    intro.hidden = true;
    about.hidden = false;
    article.scrollIntoView({ block: "start" });

    try {
      const response = await fetch("/api/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "Accept-Language": PAGE.lang },
        body: JSON.stringify(requestBody(request)),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.error || t("server_answered", { status: response.status }));
      conversation = [...conversation, { request, answer: body }];
      history.pushState({ conversation }, "", addressOf(request));
      document.title = `${request.q} — ${baseTitle()}`;
      updateLanguageLinks();
      const answered = renderExchange({ request, answer: body }, number);
      article.replaceWith(answered);
      // The new exchange starts the screen (on a phone the header would take a third of it), so
      // the first thing under the question is how recent the sources are and the best passage.
      answered.scrollIntoView({ block: "start" });
    } catch (error) {
      const message = el("p", { className: "error", textContent: t("could_not_answer", { error: error.message }) });
      message.setAttribute("role", "alert");
      loading.replaceWith(message);
    } finally {
      busy = false;
      button.disabled = false;
      thread.removeAttribute("aria-busy");
      const heading = thread.querySelector(`#question-${number}`);
      if (heading) heading.focus({ preventScroll: true });
    }
  }

  function act(target) {
    const card = target.closest("li.card");
    const exchange = target.closest("article.exchange");
    const entry = conversation[Number(exchange.dataset.number) - 1];
    if (!card || !entry) return;
    const result = entry.answer.results[Number(card.dataset.rank) - 1];
    const status = card.querySelector(".action-status");
    if (target.classList.contains("copy")) {
      copyText(formatCitation(result, "text"), target, t("copied"), status);
    } else if (target.dataset.format) {
      target.closest("details").open = false;
      copyText(formatCitation(result, target.dataset.format), card.querySelector("button.copy"), t("copied"), status);
    } else if (target.classList.contains("share")) {
      copyText(new URL(addressOf(entry.request), location.origin).href, target, t("link_copied"), status);
    } else if (target.dataset.verdict) {
      sendFeedback(entry, result, target, status);
    }
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
  if (!answer.abstained && answer.as_of) {
    const notes = [t("as_of", { year: answer.as_of })];
    if (answer.data_age_note) notes.push(t("data_age", { year: answer.as_of }));
    article.append(el("p", { className: answer.data_age_note ? "as-of old" : "as-of", textContent: notes.join(" ") }));
  }
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
  const year = el("span", { className: "badge year" });
  year.append(el("span", { className: "visually-hidden", textContent: t("source_year") }), yearLabel(c));
  cite.append(year);
  const badge = recencyBadge(result);
  if (badge) cite.append(" ", el("span", { className: `badge ${result.recency}`, textContent: badge }));
  cite.append(" ", linkTo(c, result.rank, "cite-link"));
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
  menu.append(el("summary", { textContent: t("copy_as") }), items);
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
    button.textContent = done;
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
