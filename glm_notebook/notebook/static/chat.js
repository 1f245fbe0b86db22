// The chat front end (anywidget ES module, no build step). It renders nothing itself: the
// kernel sends sanitised HTML (glm_notebook.render) and this file only inserts it, adds copy
// buttons, opens links in a new tab, keeps the input usable and follows the answer.
//
// Kernel -> browser (custom messages): turn, pane, end, reset, draft, snapshot, ask, asked,
// notice (a prompt was not sent: one line of text).
// Browser -> kernel: hello (a view opened: send me everything), send (attached images as binary
// buffers), stop, new, restore, drop, answer (Run / Skip of a tool call the kernel asked about).
// Images are attached with the Attach button, by pasting or by dropping files on the chat; the
// kernel checks and resizes them and sends back thumbnails it made, shown as <img> only when
// they are JPEG data URLs.
// Code blocks get Copy, and Insert (a new cell below the chat) where the notebook model is
// reachable from the widget manager (JupyterLab, Notebook 7).
// Synced traits: busy, pending (queued prompts), can_restore, chat_id, header, images, web (the
// Web toggle: the next turns search the web).

const FOLLOW_SLACK = 32; // px from the bottom that still count as "at the end"
const IMAGE_TYPES = "image/png,image/jpeg,image/gif,image/webp";
const PLACEHOLDER = "Ask something…  (Enter sends, Shift+Enter adds a line)";
const MAX_UPLOAD = 20 * 1024 * 1024; // bytes per file; the kernel downscales to the service's 5 MB
const THUMB_SRC = /^data:image\/jpeg;base64,[A-Za-z0-9+/=]+$/;

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Thumbnails the kernel made: an <img> for our own JPEG data URL, else the placeholder text.
function thumbsNode(thumbs) {
  const box = h("div", "glm-thumbs");
  for (const t of thumbs || []) {
    const alt = String((t && t.alt) || "[image]");
    if (t && typeof t.src === "string" && THUMB_SRC.test(t.src)) {
      const img = h("img", "glm-thumb");
      img.src = t.src;
      img.alt = img.title = alt;
      box.append(img);
    } else {
      box.append(h("span", "glm-thumb-placeholder", alt));
    }
  }
  return box;
}

function button(className, label, title) {
  const b = h("button", className, label);
  b.type = "button";
  if (title) b.title = title;
  return b;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea");
    area.value = text;
    area.style.cssText = "position:fixed;top:0;left:0;opacity:0";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

function copyButton(className, label, title, getText) {
  const b = button(className, label, title);
  b.addEventListener("click", async (event) => {
    event.stopPropagation();
    const ok = await copyText(getText());
    b.textContent = ok ? "Copied" : "Copy failed";
    b.classList.add("glm-copied");
    setTimeout(() => {
      b.textContent = label;
      b.classList.remove("glm-copied");
    }, 1500);
  });
  return b;
}

// Where the page's notebook model can be reached (JupyterLab and Notebook 7: the widget
// manager holds the document context), a code block can become a new cell below the chat's own
// cell, found by the chat id its saved transcript output carries. Elsewhere (VS Code, Colab,
// nbviewer) there is no such button: Copy remains.
function cellInserter(model) {
  const manager = model.widget_manager;
  const notebook = manager && manager.context && manager.context.model && manager.context.model.sharedModel;
  if (!notebook || typeof notebook.insertCell !== "function") return null;
  return (code) => {
    const mark = `data-glm-chat=\\"${String(model.get("chat_id") || "")}\\"`;
    const cells = notebook.cells || [];
    let at = cells.length - 1;
    for (let i = 0; i < cells.length; i++) {
      const outputs = cells[i].cell_type === "code" && cells[i].getOutputs ? cells[i].getOutputs() : [];
      if (JSON.stringify(outputs).includes(mark)) at = i;
    }
    // Trusted, as JupyterLab's own "insert cell below" makes it: a cell the user adds by hand
    // holds no output yet, and an untrusted one turns Notebook 7's indicator to "Not Trusted".
    notebook.insertCell(at + 1, { cell_type: "code", source: code, metadata: { trusted: true } });
    return true;
  };
}

function insertButton(getText, insert) {
  const b = button("glm-insert", "Insert", "Insert this code as a new cell below the chat");
  b.addEventListener("click", (event) => {
    event.stopPropagation();
    let ok = false;
    try {
      ok = insert(getText());
    } catch (error) {
      console.warn("glm: inserting a cell failed", error);
    }
    b.textContent = ok ? "Inserted" : "Insert failed";
    b.classList.add("glm-copied");
    setTimeout(() => {
      b.textContent = "Insert";
      b.classList.remove("glm-copied");
    }, 1500);
  });
  return b;
}

// Every link opens a new tab without access to this page; every code block gets a copy button
// (and an insert button when `insert` is given).
function decorate(root, insert) {
  for (const a of root.querySelectorAll("a")) {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  for (const block of root.querySelectorAll(".glm-code")) {
    const head = block.querySelector(".glm-code-head");
    if (!head || head.dataset.glmDecorated) continue;
    head.dataset.glmDecorated = "1";
    for (const old of head.querySelectorAll("button")) old.remove(); // the output's own, inline one
    const code = block.querySelector("pre code") || block.querySelector("pre");
    const text = () => (code ? code.textContent : "");
    head.append(copyButton("glm-copy", "Copy", "Copy this code", text));
    if (insert) head.append(insertButton(text, insert));
  }
}

// The static transcript output (for kernel-less viewers) is hidden while a live view runs.
const hidden = (globalThis.__glmChatHidden ??= new Map());

function hideStatic(id) {
  if (!/^[0-9a-f]+$/.test(id)) return () => {};
  let entry = hidden.get(id);
  if (!entry) {
    const style = h("style", "glm-chat-hide");
    const sel = `.glm-chat-static[data-glm-chat="${id}"]`;
    style.textContent =
      `.jp-OutputArea-child:has(${sel}), .output_area:has(${sel}), ${sel} { display: none !important; }`;
    document.head.append(style);
    entry = { style, count: 0 };
    hidden.set(id, entry);
  }
  entry.count += 1;
  return () => {
    entry.count -= 1;
    if (entry.count <= 0) {
      entry.style.remove();
      hidden.delete(id);
    }
  };
}

function render({ model, el }) {
  const viewId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const insert = cellInserter(model);
  // Everything in the chat is text from outside: MathJax never reads it (as in every output).
  const root = h("div", "glm-chat mathjax_ignore tex2jax_ignore");
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const transcript = h("div", "glm-chat-transcript");
  transcript.setAttribute("role", "log");
  const empty = h("p", "glm-chat-empty", "Ask something to start the conversation.");
  const pendingBox = h("div", "glm-chat-queue");
  transcript.append(empty, pendingBox);
  const jump = button("glm-chat-jump", "↓ Follow the answer", "Scroll to the end and follow it");
  const input = h("textarea", "glm-chat-input");
  input.rows = 2;
  // The keys are named where the box has room for them; a narrow box says only what it is for.
  const ruler = document.createElement("canvas").getContext("2d");
  const fitPlaceholder = () => {
    const style = getComputedStyle(input);
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (ruler) ruler.font = style.font;
    const fits = ruler ? ruler.measureText(PLACEHOLDER).width <= room : room >= 420;
    input.placeholder = fits ? PLACEHOLDER : "Ask something…";
  };
  fitPlaceholder();
  if (typeof ResizeObserver === "function") new ResizeObserver(fitPlaceholder).observe(input);
  input.setAttribute("aria-label", "Message");
  const send = button("glm-chat-send", "Send", "Send (Enter); while an answer streams, it is queued");
  const stop = button("glm-chat-stop", "Stop", "Stop the answer; what arrived is kept");
  const fresh = button("glm-chat-new", "New conversation", "Start over (Restore brings this one back)");
  const restore = button("glm-chat-restore", "Restore", "Bring back the conversation you just cleared");
  const attach = button("glm-chat-attach", "Image…", "Attach images (or paste them, or drop files on the chat)");
  const web = button("glm-chat-web", "Web", "Search the web for the next answers; they cite their sources");
  const picker = h("input");
  picker.type = "file";
  picker.accept = IMAGE_TYPES;
  picker.multiple = true;
  picker.hidden = true;
  const buttons = h("div", "glm-chat-buttons");
  buttons.append(send, web, attach, stop, fresh, restore);
  const bar = h("div", "glm-chat-bar");
  bar.append(input, buttons, picker);
  const attachments = h("div", "glm-chat-attachments");
  const notice = h("p", "glm-chat-notice");
  notice.setAttribute("role", "status");
  notice.hidden = true;
  const frame = h("div", "glm-chat-frame");
  frame.append(transcript, jump);
  const head = h("div", "glm-chat-head");
  const showHead = () => {
    head.textContent = model.get("header") || ""; // plain text, never markup
    attach.hidden = !model.get("images");
    web.setAttribute("aria-pressed", model.get("web") ? "true" : "false");
  };
  showHead();
  model.on("change:header", showHead);
  model.on("change:images", showHead);
  model.on("change:web", showHead);
  web.addEventListener("click", () => {
    model.set("web", !model.get("web"));
    model.save_changes();
  });
  root.append(head, frame, notice, attachments, bar);
  el.append(root);

  // Images waiting to be sent with the next prompt: {file, url, chip}.
  let attached = [];
  let lastSent = [];
  const showNotice = (text) => {
    notice.textContent = text || "";
    notice.hidden = !text;
  };
  const syncAttachments = () => {
    attachments.replaceChildren(...attached.map((a) => a.chip));
    attachments.hidden = attached.length === 0;
  };
  const addFiles = (files) => {
    for (const file of files) {
      if (!file || !String(file.type).startsWith("image/")) {
        showNotice(`${file ? file.name : "That"} is not an image: attach PNG or JPEG files.`);
        continue;
      }
      if (file.size > MAX_UPLOAD) {
        showNotice(`${file.name} is larger than ${MAX_UPLOAD >> 20} MB: not attached.`);
        continue;
      }
      const item = { file, url: URL.createObjectURL(file) };
      const chip = h("span", "glm-chat-chip");
      const img = h("img");
      img.src = item.url;
      img.alt = file.name || "image";
      const remove = button("glm-chat-chip-remove", "✕", `Remove ${file.name || "this image"}`);
      remove.addEventListener("click", () => {
        attached = attached.filter((a) => a !== item);
        URL.revokeObjectURL(item.url);
        syncAttachments();
      });
      chip.append(img, h("span", "glm-chat-chip-name", file.name || "pasted image"), remove);
      item.chip = chip;
      attached.push(item);
    }
    syncAttachments();
  };
  syncAttachments();

  const turns = new Map(); // id -> {node, answer, panes, note, actions}
  let follow = true;
  let lastTop = 0;
  let unhide = null;

  const atEnd = () => transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < FOLLOW_SLACK;
  const toEnd = () => {
    transcript.scrollTop = transcript.scrollHeight;
    lastTop = transcript.scrollTop;
  };
  const syncJump = () => {
    jump.hidden = follow || !model.get("busy");
  };
  transcript.addEventListener("scroll", () => {
    if (atEnd()) follow = true;
    else if (transcript.scrollTop < lastTop - 1) follow = false; // the reader scrolled up
    lastTop = transcript.scrollTop;
    syncJump();
  });
  jump.addEventListener("click", () => {
    follow = true;
    toEnd();
    syncJump();
  });

  const addTurn = (id, userHtml, thumbs) => {
    const node = h("div", "glm-chat-turn glm-chat-streaming");
    const user = h("div", "glm-chat-user");
    user.innerHTML = userHtml;
    decorate(user);
    if (thumbs && thumbs.length) user.append(thumbsNode(thumbs));
    const answer = h("div", "glm-chat-answer jp-RenderedHTMLCommon");
    const note = h("div", "glm-chat-note");
    const actions = h("div", "glm-chat-actions");
    node.append(user, answer, note, actions);
    transcript.insertBefore(node, pendingBox);
    const turn = { node, answer, panes: [], note, actions };
    turns.set(id, turn);
    empty.hidden = true;
    return turn;
  };

  const setPane = (turn, index, html) => {
    while (turn.panes.length <= index) {
      const pane = h("div", "glm-chat-pane");
      turn.answer.append(pane);
      turn.panes.push(pane);
    }
    const pane = turn.panes[index];
    pane.innerHTML = html;
    decorate(pane, insert);
  };

  const endTurn = (turn, noteHtml, markdown) => {
    turn.node.classList.remove("glm-chat-streaming");
    turn.note.innerHTML = noteHtml;
    decorate(turn.note, insert);
    if (markdown && !turn.actions.querySelector(".glm-copy-answer")) {
      turn.actions.append(copyButton("glm-copy-answer", "Copy answer", "Copy the answer as Markdown", () => markdown));
    }
  };

  const reset = () => {
    for (const turn of turns.values()) turn.node.remove();
    turns.clear();
    empty.hidden = false;
  };

  // While someone uses the chat, its input stays where they see it: if the bar was in view and
  // the chat grows (an answer streams, a prompt is queued), the notebook scrolls just enough.
  const scroller = () => {
    for (let e = root.parentElement; e; e = e.parentElement) {
      const overflow = getComputedStyle(e).overflowY;
      if ((overflow === "auto" || overflow === "scroll") && e.scrollHeight > e.clientHeight) return e;
    }
    return null;
  };
  const barShown = () => {
    if (!root.contains(document.activeElement)) return false;
    const box = bar.getBoundingClientRect();
    const outer = scroller();
    const bottom = Math.min(window.innerHeight, outer ? outer.getBoundingClientRect().bottom : Infinity);
    return box.height > 0 && box.top >= 0 && box.bottom <= bottom + 1;
  };
  const keepingBar = (update) => (...args) => {
    const shown = barShown();
    update(...args);
    if (shown && !barShown()) bar.scrollIntoView({ block: "nearest" });
  };

  const onMessage = (msg) => {
    if (!msg || typeof msg !== "object") return;
    if (!unhide) unhide = hideStatic(String(model.get("chat_id") || ""));
    switch (msg.op) {
      case "snapshot": {
        if (msg.view && msg.view !== viewId) return;
        reset();
        for (const t of msg.turns) {
          const turn = addTurn(t.id, t.user_html, t.thumbs);
          t.panes.forEach((html, index) => setPane(turn, index, html));
          if (t.ended) endTurn(turn, t.note_html, t.markdown);
        }
        follow = true;
        break;
      }
      case "turn":
        addTurn(msg.id, msg.user_html, msg.thumbs);
        follow = true;
        break;
      case "pane": {
        const turn = turns.get(msg.turn);
        if (turn) setPane(turn, msg.index, msg.html);
        break;
      }
      case "end": {
        const turn = turns.get(msg.turn);
        if (turn) endTurn(turn, msg.note_html, msg.markdown);
        break;
      }
      case "ask": {
        // A tool call waits for a yes/no: its text goes in as text, never as HTML.
        const turn = turns.get(msg.turn);
        if (!turn) break;
        const box = h("div", "glm-chat-ask");
        box.dataset.key = String(msg.key);
        const run = button("glm-chat-run", "Run", "Run this call");
        const skip = button("glm-chat-skip", "Skip", "Do not run it (the model is told)");
        const answer = (ok) => {
          model.send({ op: "answer", key: msg.key, ok });
          box.remove();
        };
        run.addEventListener("click", () => answer(true));
        skip.addEventListener("click", () => answer(false));
        // Every argument on a line of its own (long values shortened in the middle by the
        // kernel, invisible characters shown as <U+…>), and what was left out, if anything.
        const question = h("div", "glm-chat-ask-text");
        question.append(h("div", "glm-chat-ask-head", `Run ${String(msg.name)}?`));
        const args = h("pre", "glm-chat-ask-args");
        args.textContent = (Array.isArray(msg.lines) ? msg.lines.map(String) : []).join("\n") || "(no arguments)";
        question.append(args);
        if (msg.note) question.append(h("div", "glm-chat-ask-note", `⚠ ${String(msg.note)}`));
        const buttons = h("div", "glm-chat-ask-buttons");
        buttons.append(run, skip);
        box.append(question, buttons);
        turn.node.insertBefore(box, turn.note);
        break;
      }
      case "asked":
        for (const box of root.querySelectorAll(".glm-chat-ask")) {
          if (box.dataset.key === String(msg.key)) box.remove();
        }
        break;
      case "reset":
        reset();
        break;
      case "draft":
        // The prompt was not kept: its text, and the images sent with it, come back.
        if (!input.value.trim()) input.value = msg.text;
        if (!attached.length && lastSent.length) {
          attached = lastSent;
          syncAttachments();
        }
        lastSent = [];
        break;
      case "notice":
        showNotice(String(msg.text || ""));
        break;
      default:
        return;
    }
    if (follow) toEnd();
    syncState();
  };

  const syncState = () => {
    const busy = !!model.get("busy");
    stop.disabled = !busy;
    fresh.disabled = turns.size === 0 && !busy;
    restore.hidden = !model.get("can_restore");
    root.classList.toggle("glm-chat-busy", busy);
    const pending = model.get("pending") || [];
    pendingBox.replaceChildren(
      ...pending.map((text, index) => {
        const item = h("div", "glm-chat-turn glm-chat-pending");
        const user = h("div", "glm-chat-user", text);
        const label = h("small", "glm-chat-pending-label", "queued: starts when the answer ends ");
        const drop = button("glm-chat-drop", "✕", "Remove from the queue");
        drop.addEventListener("click", () => model.send({ op: "drop", index, text }));
        label.append(drop);
        item.append(user, label);
        return item;
      }),
    );
    if (pending.length) empty.hidden = true;
    syncJump();
  };

  const doSend = async () => {
    const text = input.value;
    const images = attached;
    if (!text.trim() && !images.length) return;
    input.value = "";
    attached = [];
    syncAttachments();
    showNotice("");
    follow = true;
    toEnd();
    let buffers = [];
    try {
      buffers = await Promise.all(images.map((a) => a.file.arrayBuffer()));
    } catch (error) {
      showNotice(`Could not read the attached image: ${error}`);
      input.value = input.value || text;
      attached = images;
      syncAttachments();
      return;
    }
    for (const a of lastSent) URL.revokeObjectURL(a.url);
    lastSent = images;
    model.send({ op: "send", text, images: images.map((a) => ({ name: a.file.name, type: a.file.type })) }, undefined, buffers);
  };

  attach.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    addFiles(Array.from(picker.files || []));
    picker.value = "";
  });
  input.addEventListener("paste", (event) => {
    const files = Array.from((event.clipboardData && event.clipboardData.files) || []).filter((f) =>
      String(f.type).startsWith("image/"),
    );
    if (!files.length) return; // text pastes as usual
    event.preventDefault();
    addFiles(files);
  });
  root.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types || []).includes("Files")) return;
    event.preventDefault();
    event.stopPropagation(); // not JupyterLab's own drop handling
    event.dataTransfer.dropEffect = "copy";
    root.classList.add("glm-chat-dragging");
  });
  root.addEventListener("dragleave", () => root.classList.remove("glm-chat-dragging"));
  root.addEventListener("drop", (event) => {
    root.classList.remove("glm-chat-dragging");
    if (!event.dataTransfer || !event.dataTransfer.files || !event.dataTransfer.files.length) return;
    event.preventDefault();
    event.stopPropagation();
    addFiles(Array.from(event.dataTransfer.files));
  });

  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing) return;
    event.stopPropagation(); // never "run cell" from here
    event.preventDefault();
    if (event.shiftKey || event.altKey) {
      // A new line, inserted here: JupyterLab cancels the browser's own line break (its
      // beforeinput) inside outputs.
      if (!document.execCommand("insertText", false, "\n")) {
        input.setRangeText("\n", input.selectionStart, input.selectionEnd, "end");
      }
      return;
    }
    doSend();
  });
  send.addEventListener("click", doSend);
  stop.addEventListener("click", () => model.send({ op: "stop" }));
  fresh.addEventListener("click", () => model.send({ op: "new" }));
  restore.addEventListener("click", () => model.send({ op: "restore" }));

  const onChange = keepingBar(() => syncState());
  model.on("msg:custom", keepingBar(onMessage));
  model.on("change:busy", onChange);
  model.on("change:pending", onChange);
  model.on("change:can_restore", onChange);
  syncState();
  model.send({ op: "hello", view: viewId });

  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:busy", onChange);
    model.off("change:pending", onChange);
    model.off("change:can_restore", onChange);
    if (unhide) unhide();
    for (const a of [...attached, ...lastSent]) URL.revokeObjectURL(a.url);
  };
}

export default { render };
