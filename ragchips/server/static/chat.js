// The ragchips chat page: streams /v1/chat/completions, opens cited spans in their source.
// Plain browser JavaScript, no library and no network beyond this server.
"use strict";

(function () {
  const chat = document.getElementById("chat");
  const form = document.getElementById("ask");
  const input = document.getElementById("question");
  const send = document.getElementById("send");
  const keyRow = document.getElementById("key-row");
  const keyInput = document.getElementById("api-key");
  const panel = document.getElementById("source");
  const panelTitle = document.getElementById("source-title");
  const panelMeta = document.getElementById("source-meta");
  const panelText = document.getElementById("source-text");
  const history = [];
  const documents = new Map();
  let lastCiteButton = null;
  let openings = 0;  // citations opened so far: only the last one may fill the panel

  keyInput.value = sessionStorage.getItem("ragchips-key") || "";
  if (keyInput.value) keyRow.hidden = false;

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = keyInput.value.trim();
    if (key) {
      sessionStorage.setItem("ragchips-key", key);
      h.Authorization = "Bearer " + key;
    }
    return h;
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function citeButton(n, label, citations) {
    const b = el("button", "cite", label);
    b.type = "button";
    b.dataset.n = String(n);
    const c = citations[n - 1];
    b.title = c ? c.title + " — " + c.source + " [" + c.start + ":" + c.end + "]" : "";
    b.setAttribute("aria-label", "Source " + n + (c ? " : " + c.title : ""));
    b.addEventListener("click", () => openCitation(c, b));
    return b;
  }

  // The answer's text with every [n] (or [1, 3], [1-2]) as buttons opening the source.
  function renderAnswer(target, text, citations) {
    target.replaceChildren();
    const marker = /\[(\d+(?:\s*[,;-]\s*\d+)*)\]/g;
    let at = 0;
    for (const m of text.matchAll(marker)) {
      target.append(document.createTextNode(text.slice(at, m.index)));
      const numbers = m[1].split(/\s*[,;-]\s*/).map(Number);
      if (numbers.every((n) => n >= 1 && n <= citations.length)) {
        numbers.forEach((n) => target.append(citeButton(n, "[" + n + "]", citations)));
      } else {
        target.append(document.createTextNode(m[0]));
      }
      at = m.index + m[0].length;
    }
    target.append(document.createTextNode(text.slice(at)));
  }

  function renderSources(target, citations) {
    target.replaceChildren();
    if (!citations.length) {
      target.append(el("p", "none", "Aucun passage de la collection ne correspond."));
      return;
    }
    target.append(el("h3", "", "Sources"));
    const list = el("ol");
    citations.forEach((c, i) => {
      const item = el("li");
      item.append(citeButton(i + 1, "[" + (i + 1) + "] " + c.title, citations));
      item.append(el("span", "where", " " + c.source + " [" + c.start + ":" + c.end + "]"));
      item.append(el("q", "", c.quote.length > 160 ? c.quote.slice(0, 159) + "…" : c.quote));
      list.append(item);
    });
    target.append(list);
  }

  async function fetchDocument(docId, fresh) {
    if (fresh || !documents.has(docId)) {
      const r = await fetch("/documents/" + encodeURIComponent(docId), { headers: headers() });
      const body = await r.json();
      if (!r.ok) {
        if (r.status === 404) documents.delete(docId);  // gone: no kept copy either
        throw new Error(body.error ? body.error.message : "HTTP " + r.status);
      }
      documents.set(docId, body);
    }
    return documents.get(docId);
  }

  // The citation as it was, when its document changed or went since the answer.
  function showQuoteOnly(c, why) {
    panelText.replaceChildren(
      el("p", "changed", why + " Le passage cité, tel qu'il était :"),
      el("blockquote", "", c.quote)
    );
    panel.dataset.ready = "stale";
  }

  // The cited span as the document holds it now: the collection may have changed since
  // the answer (or since the copy kept here), and then the offsets point elsewhere.
  function spanOf(doc, c) {
    return Array.from(doc.text).slice(c.start, c.end).join("");
  }

  // Offsets count Unicode code points (Python), not UTF-16 units: slice code points.
  async function openCitation(c, button) {
    if (!c) return;
    lastCiteButton = button;
    const opening = ++openings;  // a slower earlier click must not show its document now
    delete panel.dataset.ready;  // ready again once this document is shown
    panel.hidden = false;
    panelTitle.textContent = c.title;
    panelMeta.textContent = c.source + " — caractères " + c.start + " à " + c.end;
    panelText.textContent = "Chargement…";
    try {
      let doc = await fetchDocument(c.doc_id, false);
      if (spanOf(doc, c) !== c.quote) doc = await fetchDocument(c.doc_id, true);
      if (opening !== openings) return;
      if (spanOf(doc, c) !== c.quote) {
        showQuoteOnly(c, "Ce document a changé depuis cette réponse : le passage cité " +
          "n'y est plus à cette place.");
        return;
      }
      const chars = Array.from(doc.text);
      const mark = el("mark", "", chars.slice(c.start, c.end).join(""));
      mark.id = "highlight";
      mark.tabIndex = -1;
      panelText.replaceChildren(
        document.createTextNode(chars.slice(0, c.start).join("")),
        mark,
        document.createTextNode(chars.slice(c.end).join(""))
      );
      // Scroll the document panel only (not the page), the span a third of the way down.
      panelText.scrollTop = Math.max(0, mark.offsetTop - panelText.clientHeight / 3);
      mark.focus({ preventScroll: true });
      panel.dataset.ready = "true";
    } catch (err) {
      if (opening !== openings) return;
      showQuoteOnly(c, "Document indisponible : " + err.message + ".");
    }
  }

  function closePanel() {
    panel.hidden = true;
    delete panel.dataset.ready;
    if (lastCiteButton) lastCiteButton.focus();
  }

  document.getElementById("source-close").addEventListener("click", closePanel);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) closePanel();
  });

  // Server-sent events from a fetch body: yields the parsed "data:" payloads.
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trim())
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }

  async function ask(question) {
    const user = el("div", "msg user");
    user.append(el("p", "", question));
    const bot = el("div", "msg assistant");
    bot.setAttribute("aria-busy", "true");
    const text = el("p", "answer", "…");
    const sources = el("div", "sources");
    const warn = el("p", "warning");
    warn.hidden = true;
    bot.append(text, sources, warn);
    chat.append(user, bot);
    user.scrollIntoView({ block: "start" }); // the question, then the answer as it comes
    history.push({ role: "user", content: question });

    let answer = "";
    let tail = "";
    let citations = [];
    let scrolled = false;
    try {
      const r = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: headers(),
        body: JSON.stringify({ model: "ragchips", messages: history, stream: true }),
      });
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        if (r.status === 401) {
          keyRow.hidden = false;
          keyInput.focus();
        }
        throw new Error(body.error ? body.error.message : "HTTP " + r.status);
      }
      for await (const ev of events(r)) {
        if (ev.error) throw new Error(ev.error.message);
        if (ev.citations) {
          citations = ev.citations;
          renderSources(sources, citations);
        }
        const choice = ev.choices && ev.choices[0];
        const delta = choice && choice.delta && choice.delta.content;
        if (delta) {
          // The readable "Sources :" list ends every reply; the page shows its own.
          if (delta.startsWith("\n\nSources :")) tail = delta;
          else answer += delta;
          renderAnswer(text, answer, citations);
          if (!scrolled) user.scrollIntoView({ block: "start" }); // once there is room
          scrolled = true;
        }
        if (choice && choice.finish_reason && ev.ragchips && ev.ragchips.warnings.length) {
          warn.textContent = ev.ragchips.warnings.join(" ; ");
          warn.hidden = false;
        }
      }
      history.push({ role: "assistant", content: answer + tail });
    } catch (err) {
      history.pop();
      text.textContent = "Erreur : " + err.message;
      bot.classList.add("error");
    } finally {
      bot.removeAttribute("aria-busy");
      bot.dataset.done = "true";
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const question = input.value.trim();
    if (!question || send.disabled) return;
    input.value = "";
    send.disabled = true;
    try {
      await ask(question);
    } finally {
      send.disabled = false;
      if (document.activeElement !== keyInput) input.focus(); // unless the key is asked for
    }
  });

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  input.focus();
})();
