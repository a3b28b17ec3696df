// Progressive enhancement for the pages rendered by assistant/web.py: ask without reloading,
// copy citations, centre a cited passage. Data only ever reaches the page through textContent.
"use strict";

(function () {
  const form = document.getElementById("ask-form");
  if (form) startChat(form);

  for (const button of document.querySelectorAll("button.copy")) button.hidden = false;
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.copy");
    if (button) copyCitation(button);
  });

  const passage = document.getElementById("passage");
  if (passage) passage.scrollIntoView({ block: "center" });
})();

function startChat(form) {
  const box = form.querySelector("textarea");
  const button = form.querySelector("button[type=submit]");
  const thread = document.getElementById("thread");
  const intro = document.getElementById("intro");
  const about = document.getElementById("about");
  let busy = false;

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
    ask(box.value);
  });
  for (const link of document.querySelectorAll("a.example")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      ask(link.textContent);
    });
  }

  async function ask(raw) {
    const question = raw.trim();
    if (!question || busy) return;
    busy = true;
    button.disabled = true;
    thread.setAttribute("aria-busy", "true");
    const number = thread.querySelectorAll(".exchange").length + 1;
    const article = el("article", { className: "exchange" });
    article.setAttribute("aria-labelledby", `question-${number}`);
    const heading = el("h2", { className: "question", id: `question-${number}` });
    heading.append(el("span", { className: "visually-hidden", textContent: "Question: " }), question);
    const loading = el("p", { className: "loading", textContent: "Searching the documents…" });
    loading.setAttribute("role", "status");
    article.append(heading, loading);
    thread.append(article);
    intro.hidden = true;
    about.hidden = false;
    article.scrollIntoView({ block: "start" });
    box.value = "";
    box.focus();

    try {
      const response = await fetch("/api/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ question }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
      loading.replaceWith(...renderAnswer(body));
      article.scrollIntoView({ block: "start" });
    } catch (error) {
      const message = el("p", { className: "error", textContent: `Could not answer: ${error.message}` });
      message.setAttribute("role", "alert");
      loading.replaceWith(message);
      if (!box.value) box.value = question;
    } finally {
      busy = false;
      button.disabled = false;
      thread.removeAttribute("aria-busy");
      box.focus();
    }
  }
}

function renderAnswer(answer) {
  const nodes = [];
  if (answer.abstained) {
    const notice = el("p", { className: "abstained", textContent: "These documents do not seem to cover this." });
    if (answer.abstain_reason) {
      notice.append(" ", el("span", { className: "abstain-reason", textContent: `(${answer.abstain_reason})` }));
    }
    nodes.push(notice);
  }
  if (!answer.results.length) {
    nodes.push(el("p", { className: "empty", textContent: "No passages found." }));
    return nodes;
  }
  const span = answer.sources_span;
  const newest = span ? span[1] : null;
  if (span) {
    const note = `These sources are from different years (${span[0]}–${span[1]}), and the law may have changed. The newest is marked.`;
    nodes.push(el("p", { className: "span-note", textContent: note }));
  }
  const label = answer.abstained ? "Nearest passages, not answers" : "Passages, best match first";
  nodes.push(el("h3", { className: "results-label", textContent: label }));
  const list = el("ol", { className: answer.abstained ? "cards nearest" : "cards" });
  for (const result of answer.results) list.append(renderCard(result, newest));
  nodes.push(list);
  return nodes;
}

function renderCard(result, newest) {
  const { text, highlight: h, citation: c } = result;
  const link = sourceLink(c);
  const quote = el("blockquote", { className: "passage", cite: link });
  const p = el("p");
  p.append(text.slice(0, h.start), el("mark", { textContent: text.slice(h.start, h.end) }), text.slice(h.end));
  quote.append(p);
  const cite = el("p", { className: "cite" });
  const year = el("span", { className: "badge year" });
  year.append(el("span", { className: "visually-hidden", textContent: "Source year: " }), c.year ? String(c.year) : "year unknown");
  cite.append(year);
  if (newest && c.year === newest) cite.append(" ", el("span", { className: "badge newest", textContent: "newest" }));
  cite.append(" ", el("a", { href: link, textContent: citationLine(result.rank, c) }));
  const card = el("li", { className: "card" });
  card.append(quote, cite);
  if (!c.year && c.date_note) card.append(el("p", { className: "date-note", textContent: `Date: ${c.date_note}` }));
  for (const other of result.also_in || []) {
    const also = el("p", { className: "also-in", textContent: "Also in: " });
    also.append(el("a", { href: sourceLink(other), textContent: sourceLabel(other) }));
    card.append(also);
  }
  const copy = el("button", { type: "button", className: "copy", textContent: "Copy citation" });
  copy.dataset.citation = citationText(c);
  card.append(copy);
  return card;
}

// The same formats as citation_line (assistant/cli.py), source_label and citation_text (assistant/web.py).
function yearLabel(c) {
  return c.year ? String(c.year) : "n.d.";
}

function sourceLabel(c) {
  const source = c.publisher ? `${c.title} — ${c.publisher}, ${yearLabel(c)}` : `${c.title}, ${yearLabel(c)}`;
  return source + (c.section ? ` · ${c.section}` : "");
}

function citationLine(rank, c) {
  return `[${rank}] ${sourceLabel(c)}`;
}

function citationText(c) {
  const source = c.publisher ? `${c.title} — ${c.publisher}` : c.title;
  return `${source}, ${yearLabel(c)}.` + (c.url ? ` ${c.url}` : "");
}

function sourceLink(c) {
  const query = new URLSearchParams({ start: c.start, end: c.end });
  return `/documents/${encodeURIComponent(c.doc_id)}?${query}#passage`;
}

async function copyCitation(button) {
  const text = button.dataset.citation;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const scratch = el("textarea", { value: text, readOnly: true });
    document.body.append(scratch);
    scratch.select();
    document.execCommand("copy");
    scratch.remove();
  }
  button.setAttribute("aria-live", "polite");
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = "Copy citation"), 2000);
}

function el(tag, properties = {}) {
  return Object.assign(document.createElement(tag), properties);
}
