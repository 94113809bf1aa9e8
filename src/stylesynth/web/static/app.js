// stylesynth studio: the page talks to the JSON API only (see stylesynth/web/app.py).
"use strict";

const $ = (selector) => document.querySelector(selector);
const TERMINAL = ["done", "failed", "cancelled", "deleted"];
const DEFAULTS = { content: "tubingen.jpg", style: "starry_night.jpg" };

const state = {
  config: null,
  examples: [],
  picks: { content: null, style: null }, // {example: name} or {file: File}
  job: null, // the id of the job this page shows
  source: null, // its EventSource
  previewUrl: null,
};

// ---------------------------------------------------------------- helpers

async function getJSON(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  return { ok: response.ok, status: response.status, body };
}

function showError(message) {
  const el = $("#error");
  el.textContent = message || "";
  el.hidden = !message;
}

function ratioFromStrength(strength) {
  // 0 (subtle: 1e-2, the photo with a hint of the painting) .. 100 (bold: 1e-6, as far from
  // the photo as the preset's steps go) on a log scale; the engine's default ratio, 3e-4, is 40.
  return Math.pow(10, -2 - (4 * strength) / 100);
}

function strengthFromRatio(ratio) {
  return Math.min(100, Math.max(0, Math.round((-Math.log10(ratio) - 2) * 25 / 5) * 5));
}

function strengthLabel(strength) {
  if (strength <= 15) return "Subtle";
  if (strength <= 35) return "Gentle";
  if (strength <= 60) return "Balanced";  // the default, 3e-4, is 40
  if (strength <= 80) return "Strong";
  return "Bold";
}

function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "";
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return s ? `${m} min ${s} s` : `${m} min`;
}

function fmt(x) {
  if (x == null) return "–";
  return Math.abs(x) >= 1000 || Math.abs(x) < 0.01 ? x.toExponential(2) : x.toPrecision(3);
}

// ---------------------------------------------------------------- pickers

function setPick(kind, pick) {
  state.picks[kind] = pick;
  const drop = $(`#${kind}-drop`);
  const img = drop.querySelector(".drop-img");
  if (img.dataset.objectUrl) URL.revokeObjectURL(img.dataset.objectUrl);
  delete img.dataset.objectUrl;
  if (pick && pick.file) {
    const url = URL.createObjectURL(pick.file);
    img.dataset.objectUrl = url;
    img.src = url;
    drop.querySelector(".drop-name").textContent = pick.file.name;
  } else if (pick && pick.example) {
    const ex = state.examples.find((e) => e.name === pick.example);
    img.src = ex ? ex.thumbnail : "";
    drop.querySelector(".drop-name").textContent = ex ? ex.title : pick.example;
  }
  drop.classList.toggle("has-image", !!pick);
  document.querySelectorAll(`#${kind}-picker .thumb`).forEach((b) => {
    b.setAttribute("aria-pressed", String(!!pick && pick.example === b.dataset.name));
  });
  updateStart();
}

function acceptFile(kind, file) {
  if (!file) return;
  showError("");
  if (file.type && !file.type.startsWith("image/")) {
    showError(`${file.name} is not an image: use JPEG, PNG or WebP.`);
    return;
  }
  const limit = state.config ? state.config.max_upload_bytes : Infinity;
  if (file.size > limit) {
    showError(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${(limit / 1048576).toFixed(0)} MB.`);
    return;
  }
  setPick(kind, { file });
}

function setupPicker(kind) {
  const drop = $(`#${kind}-drop`);
  const input = $(`#${kind}-file`);
  input.addEventListener("change", () => acceptFile(kind, input.files[0]));
  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    acceptFile(kind, e.dataTransfer.files[0]);
  });
  const strip = $(`#${kind}-picker .examples`);
  for (const ex of state.examples) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "thumb";
    button.dataset.name = ex.name;
    button.title = `${ex.credit}${ex.licence ? " (" + ex.licence + ")" : ""}`;
    button.setAttribute("aria-label", ex.title);
    button.setAttribute("aria-pressed", "false");
    const img = document.createElement("img");
    img.src = ex.thumbnail;
    img.alt = "";
    img.loading = "lazy";
    button.append(img);
    button.addEventListener("click", () => { showError(""); setPick(kind, { example: ex.name }); });
    strip.append(button);
  }
}

// ---------------------------------------------------------------- settings

function setupSettings() {
  const cfg = state.config;
  const strength = $("#strength");
  strength.value = strengthFromRatio(cfg.ratio.default);
  const showStrength = () => {
    const r = ratioFromStrength(Number(strength.value));
    $("#strength-out").textContent = `${strengthLabel(Number(strength.value))} · α/β ${r.toExponential(0)}`;
  };
  strength.addEventListener("input", showStrength);
  showStrength();

  // The common sizes, one pick each (a slider over 64-4096 px put them all at its left end).
  const size = $("#size");
  for (const px of cfg.size.common) {
    const option = document.createElement("option");
    option.value = String(px);
    option.textContent = `${px} px` + (px === cfg.size.default ? " (default)" : "")
      + (px < cfg.size.small ? " · a sketch" : px >= 2048 ? " · a print, minutes" : "");
    size.append(option);
  }
  size.value = String(cfg.size.default);
  const showSize = () => {
    const px = Number(size.value);
    $("#size-hint").textContent = px <= cfg.size.small
      ? `At ${px} px and below the strokes are coarse and blur: a quick look, not the picture.`
      : px >= 2048 ? "Print sizes take minutes on a CPU (tile by tile when memory is short)."
      : "";
  };
  size.addEventListener("change", showSize);
  showSize();

  const presets = $("#presets");
  for (const name of Object.keys(cfg.presets)) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "preset";
    input.value = name;
    input.checked = name === cfg.default_preset;
    const small = document.createElement("small");
    small.textContent = cfg.preset_labels[name];
    label.append(input, name[0].toUpperCase() + name.slice(1), small);
    presets.append(label);
  }

  const preserve = $("#preserve");
  const method = $("#preserve-method");
  preserve.addEventListener("change", () => { method.hidden = !preserve.checked; });
}

function updateStart() {
  const busy = state.job && state.source;
  $("#start").disabled = !(state.picks.content && state.picks.style) || !!busy;
}

// ---------------------------------------------------------------- jobs

async function start() {
  showError("");
  const form = new FormData();
  for (const kind of ["content", "style"]) {
    const pick = state.picks[kind];
    if (pick.file) form.append(kind, pick.file, pick.file.name);
    else form.append(kind, pick.example);
  }
  form.append("size", $("#size").value);
  form.append("ratio", ratioFromStrength(Number($("#strength").value)).toPrecision(6));
  form.append("preset", document.querySelector("input[name=preset]:checked").value);
  if ($("#preserve").checked) form.append("preserve_colors", $("#preserve-method").value);
  $("#start").disabled = true;
  let reply;
  try {
    reply = await getJSON("/api/jobs", { method: "POST", body: form });
  } catch (e) {
    reply = { ok: false, body: { error: "The studio server is not reachable." } };
  }
  if (!reply.ok) {
    showError((reply.body && reply.body.error) || `The server said ${reply.status}.`);
    updateStart();
    return;
  }
  const url = new URL(location.href);
  url.searchParams.set("job", reply.body.id);
  history.replaceState(null, "", url);
  resetOutput();
  attach(reply.body.id);
  if (window.matchMedia("(max-width: 860px)").matches) {
    $("#stage").scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

function resetOutput() {
  const preview = $("#preview");
  preview.hidden = true;
  preview.removeAttribute("src");
  preview.dataset.previews = "0";
  state.previewUrl = null;
  $("#placeholder").hidden = false;
  $("#notice").hidden = true;
  $("#stats").hidden = true;
  setProgress(0);
  setDownload(null);
}

function attach(id) {
  detach();
  state.job = id;
  const source = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
  state.source = source;
  source.addEventListener("progress", (e) => render(JSON.parse(e.data)));
  source.addEventListener("end", (e) => {
    detach();
    render(JSON.parse(e.data));
  });
  source.onerror = async () => {
    if (source.readyState !== EventSource.CLOSED) return; // it reconnects by itself
    detach();
    const reply = await getJSON(`/api/jobs/${encodeURIComponent(id)}`).catch(() => null);
    if (reply && reply.ok) {
      render(reply.body);
      if (!TERMINAL.includes(reply.body.status)) setTimeout(() => attach(id), 2000);
    } else if (reply && reply.status === 404) {
      forget("That job is no longer on the server (finished jobs are kept for a while, then removed).");
    } else {
      setStatus("failed", "Lost the connection to the studio server.");
    }
  };
  $("#cancel").disabled = false;
  updateStart();
}

function detach() {
  if (state.source) state.source.close();
  state.source = null;
  updateStart();
}

function forget(message) {
  detach();
  state.job = null;
  const url = new URL(location.href);
  url.searchParams.delete("job");
  history.replaceState(null, "", url);
  resetOutput();
  setStatus("idle", message);
  $("#eta").textContent = "";
  $("#cancel").disabled = true;
}

async function cancel() {
  if (!state.job) return;
  $("#cancel").disabled = true;
  setStatus("cancelling", "Cancelling…");
  const reply = await getJSON(`/api/jobs/${encodeURIComponent(state.job)}`, { method: "DELETE" }).catch(() => null);
  if (reply && reply.ok) render(reply.body);
}

function setStatus(status, text) {
  const el = $("#status");
  el.dataset.status = status;
  el.textContent = text;
}

function setProgress(fraction) {
  const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  $("#bar").style.width = `${pct}%`;
  $("#progress").setAttribute("aria-valuenow", String(pct));
}

function setDownload(url) {
  const link = $("#download");
  if (url) {
    link.href = url;
    link.classList.remove("disabled");
    link.setAttribute("aria-disabled", "false");
  } else {
    link.removeAttribute("href");
    link.classList.add("disabled");
    link.setAttribute("aria-disabled", "true");
  }
}

function showImage(url, counts) {
  if (!url || url === state.previewUrl) return;
  state.previewUrl = url;
  const loader = new Image();
  loader.onload = () => {
    if (state.previewUrl !== url) return;
    const preview = $("#preview");
    preview.src = url;
    preview.hidden = false;
    $("#placeholder").hidden = true;
    if (counts) preview.dataset.previews = String(Number(preview.dataset.previews) + 1);
  };
  loader.src = url;
}

function render(job) {
  const running = job.status === "running";
  if (job.status === "queued") {
    setStatus("queued", job.queue_position > 1
      ? `Waiting in the queue: ${job.queue_position - 1} job${job.queue_position > 2 ? "s" : ""} ahead`
      : "Next in the queue…");
  } else if (running && job.cancel_requested) {
    setStatus("cancelling", "Cancelling…");
  } else if (running && job.iteration === 0) {
    setStatus("running", "Preparing the network…");
  } else if (running) {
    setStatus("running", `Painting… step ${job.iteration} of ${job.iterations}`);
  } else if (job.status === "done") {
    setStatus("done", `Done in ${duration(job.elapsed)}`);
  } else if (job.status === "failed") {
    setStatus("failed", job.error || "The job failed.");
  } else if (job.status === "cancelled") {
    setStatus("cancelled", "Cancelled.");
  } else if (job.status === "deleted") {
    setStatus("idle", "That job was removed.");
  }
  setProgress(job.status === "done" ? 1 : job.progress || 0);
  $("#eta").textContent = running && job.eta != null ? `about ${duration(job.eta)} left` : "";

  if (job.status === "done" && job.result_url) {
    showImage(job.result_url, false);
    setDownload(job.result_url);
  } else if (job.preview_url) {
    showImage(job.preview_url, true);
  }
  const notes = job.result && job.result.warning ? [job.result.warning] : [];
  $("#notice").textContent = notes.join(" ");
  $("#notice").hidden = notes.length === 0;

  const stats = $("#stats");
  const items = [];
  if (job.result) {
    items.push(["Size", `${job.result.width}×${job.result.height} px`], ["Steps", job.result.iterations_done],
               ["Seed", job.result.seed]);
  } else if (job.losses && job.losses.style != null) {
    items.push(["Loss", fmt(job.loss)], ["Content", fmt(job.losses.content)], ["Style", fmt(job.losses.style)]);
  }
  stats.replaceChildren(...items.map(([k, v]) => {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = String(v);
    div.append(dt, dd);
    return div;
  }));
  stats.hidden = items.length === 0;

  const finished = TERMINAL.includes(job.status);
  $("#cancel").disabled = finished || !!job.cancel_requested;
  if (finished) detach();
}

// ---------------------------------------------------------------- start-up

async function main() {
  const [config, examples] = await Promise.all([getJSON("/api/config"), getJSON("/api/examples")]);
  if (!config.ok) {
    showError("Could not load the studio's settings from the server.");
    return;
  }
  state.config = config.body;
  state.examples = examples.ok ? examples.body.examples : [];
  setupPicker("content");
  setupPicker("style");
  setupSettings();
  $("#credits").textContent = state.examples.length
    ? "Example images: " + state.examples.map((e) => `${e.credit} (${e.licence})`).join(" · ")
    : "";
  const names = state.examples.map((e) => e.name);
  if (names.includes(DEFAULTS.content)) setPick("content", { example: DEFAULTS.content });
  if (names.includes(DEFAULTS.style)) setPick("style", { example: DEFAULTS.style });
  $("#start").addEventListener("click", start);
  $("#cancel").addEventListener("click", cancel);

  const id = new URLSearchParams(location.search).get("job");
  if (id) {
    const reply = await getJSON(`/api/jobs/${encodeURIComponent(id)}`).catch(() => null);
    if (reply && reply.ok) {
      for (const [kind, input] of [["content", reply.body.inputs.content], ["style", reply.body.inputs.styles[0]]]) {
        if (input && input.example && names.includes(input.name)) setPick(kind, { example: input.name });
      }
      render(reply.body);
      if (!TERMINAL.includes(reply.body.status)) attach(id);
    } else {
      forget("That job is no longer on the server (finished jobs are kept for a while, then removed).");
    }
  }
  document.body.dataset.ready = "true";
}

main();
