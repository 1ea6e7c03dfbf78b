// The draw-a-digit page. Strokes are kept as lists of points, so that undo
// can redraw without them and the picture sent to the server is always
// drawn the same way (black ink on white, what a photo of paper looks
// like), whatever the screen's theme. The server prepares it exactly as
// `trainer predict` prepares a picture.
"use strict";

const SIDE = 280; // the canvas's own pixels; CSS scales it to the screen
// MNIST's strokes are about a tenth of the digit's height; a digit drawn
// to fill most of the pad is ~200 px high. Thinner than that rather than
// thicker: `predict` thickens a thin pen, but fat strokes close the gaps
// of 3s and 4s into 8s (see tests/browser.rs).
const STROKE_WIDTH = 16;
const QUIET_MS = 80; // ask the server once the pen has rested this long...
const MOST_MS = 250; // ...or at least this often while it moves

const canvas = document.getElementById("canvas");
const context = canvas.getContext("2d");
const hint = document.getElementById("hint");
const prediction = document.getElementById("prediction");
const confidence = document.getElementById("confidence");
const textLine = document.getElementById("text");
const bars = document.getElementById("probabilities");
const inputView = document.getElementById("input");
const statusLine = document.getElementById("status");
const modelPicker = document.getElementById("model");
const modelInfo = document.getElementById("model-info");
const drop = document.getElementById("drop");

let strokes = []; // each a list of [x, y] in canvas pixels
let cleared = null; // the strokes the last clear removed, for undo
let photo = null; // an uploaded picture: {blob, bitmap}, shown instead of strokes
let activeStroke = null;
let activePointer = null;
// Every change of the drawing gets a new version; an answer is shown only
// if it is for the latest one, and the prediction element says which
// version it shows (tests wait on it).
let version = 0;
let requestInFlight = false;
let quietTimer = null;
let lastRequest = 0;

// ---- Drawing ---------------------------------------------------------------

function colours() {
  const style = getComputedStyle(document.documentElement);
  return { paper: style.getPropertyValue("--paper").trim(), ink: style.getPropertyValue("--ink").trim() };
}

function traceStroke(ctx, points) {
  ctx.beginPath();
  if (points.length === 1) {
    const [x, y] = points[0];
    ctx.arc(x, y, STROKE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  // A quadratic curve through the midpoints smooths the corners of the polyline.
  ctx.moveTo(points[0][0], points[0][1]);
  for (let i = 1; i < points.length - 1; i++) {
    const [x, y] = points[i];
    const [nx, ny] = points[i + 1];
    ctx.quadraticCurveTo(x, y, (x + nx) / 2, (y + ny) / 2);
  }
  const [lx, ly] = points[points.length - 1];
  ctx.lineTo(lx, ly);
  ctx.stroke();
}

function paint(ctx, paper, ink) {
  ctx.fillStyle = paper;
  ctx.fillRect(0, 0, SIDE, SIDE);
  if (photo) {
    if (!photo.bitmap) return; // undecodable here: the server says why
    const { width, height } = photo.bitmap;
    const scale = Math.min(SIDE / width, SIDE / height);
    const w = width * scale, h = height * scale;
    ctx.drawImage(photo.bitmap, (SIDE - w) / 2, (SIDE - h) / 2, w, h);
    return;
  }
  ctx.strokeStyle = ink;
  ctx.fillStyle = ink;
  ctx.lineWidth = STROKE_WIDTH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const points of strokes) traceStroke(ctx, points);
}

function redraw() {
  const { paper, ink } = colours();
  paint(context, paper, ink);
  hint.classList.toggle("hidden", strokes.length > 0 || photo !== null);
}

function canvasPoint(event) {
  const box = canvas.getBoundingClientRect();
  return [((event.clientX - box.left) * SIDE) / box.width, ((event.clientY - box.top) * SIDE) / box.height];
}

canvas.addEventListener("pointerdown", (event) => {
  if (activePointer !== null || event.button > 0) return;
  event.preventDefault();
  activePointer = event.pointerId;
  if (canvas.setPointerCapture) {
    try { canvas.setPointerCapture(event.pointerId); } catch (_) { /* a synthetic event has no capture */ }
  }
  if (photo) { photo = null; }
  cleared = null;
  activeStroke = [canvasPoint(event)];
  strokes.push(activeStroke);
  changed();
});

canvas.addEventListener("pointermove", (event) => {
  if (event.pointerId !== activePointer) return;
  event.preventDefault();
  // Coalesced events carry the points a fast pen passed between two frames.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) activeStroke.push(canvasPoint(e));
  changed();
});

function endStroke(event) {
  if (event.pointerId !== activePointer) return;
  activePointer = null;
  activeStroke = null;
  changed(true);
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

// ---- Clear, undo, keys -------------------------------------------------------

function clearAll() {
  if (strokes.length) cleared = strokes;
  strokes = [];
  photo = null;
  activeStroke = null;
  activePointer = null;
  changed(true);
}

function undo() {
  if (photo) {
    photo = null;
  } else if (strokes.length) {
    strokes.pop();
  } else if (cleared) {
    strokes = cleared;
    cleared = null;
  } else {
    return;
  }
  changed(true);
}

document.getElementById("clear").addEventListener("click", clearAll);
document.getElementById("undo").addEventListener("click", undo);
document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
  if (typing || event.altKey || event.metaKey) return;
  if ((event.key === "c" || event.key === "C") && !event.ctrlKey) {
    event.preventDefault();
    clearAll();
  } else if (event.key === "z" && event.ctrlKey) {
    event.preventDefault();
    undo();
  }
});

// ---- Photos: upload or drop ----------------------------------------------------

async function usePhoto(file) {
  if (!file) return;
  if (!/^image\/(png|jpeg)$/.test(file.type)) {
    showError(`${file.name}: not a PNG or JPEG picture`);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (_) {
    bitmap = null; // the server decodes it anyway, and says what is wrong
  }
  strokes = [];
  cleared = null;
  photo = { blob: file, bitmap };
  changed(true);
}

document.getElementById("upload").addEventListener("change", (event) => {
  usePhoto(event.target.files[0]);
  event.target.value = "";
});
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  usePhoto(event.dataTransfer.files[0]);
});

// ---- Asking the server ------------------------------------------------------------

function changed(now = false) {
  version += 1;
  canvas.dataset.version = String(version);
  redraw();
  clearTimeout(quietTimer);
  const wait = now || Date.now() - lastRequest >= MOST_MS ? 0 : QUIET_MS;
  quietTimer = setTimeout(ask, wait);
}

function pictureToSend() {
  if (photo) return Promise.resolve(photo.blob);
  const offscreen = document.createElement("canvas");
  offscreen.width = SIDE;
  offscreen.height = SIDE;
  paint(offscreen.getContext("2d"), "#ffffff", "#000000");
  return new Promise((resolve) => offscreen.toBlob(resolve, "image/png"));
}

async function ask() {
  if (requestInFlight) return; // the answer's arrival asks again if needed
  const asked = version;
  if (!photo && strokes.length === 0) {
    showBlank(asked);
    return;
  }
  requestInFlight = true;
  lastRequest = Date.now();
  try {
    const body = await pictureToSend();
    const model = modelPicker.value ? `?model=${encodeURIComponent(modelPicker.value)}` : "";
    const response = await fetch(`/api/predict${model}`, {
      method: "POST",
      headers: { "Content-Type": body.type || "application/octet-stream" },
      body,
    });
    const answer = await response.json();
    if (asked === version) {
      if (response.ok) showAnswer(answer, asked);
      else showError(answer.error || `the server answered ${response.status}`, asked);
    }
  } catch (error) {
    if (asked === version) showError(`no answer from the server (${error.message})`, asked);
  } finally {
    requestInFlight = false;
    if (asked !== version) ask();
  }
}

// ---- Showing the answer --------------------------------------------------------

const barFills = [];
const barPercents = [];
const barRows = [];
for (let digit = 0; digit < 10; digit++) {
  const row = document.createElement("li");
  const label = document.createElement("span");
  label.textContent = String(digit);
  const track = document.createElement("span");
  track.className = "track";
  const fill = document.createElement("span");
  fill.className = "fill";
  fill.style.display = "block";
  track.appendChild(fill);
  const percent = document.createElement("span");
  percent.className = "percent";
  percent.textContent = "";
  row.append(label, track, percent);
  row.dataset.digit = String(digit);
  bars.appendChild(row);
  barRows.push(row);
  barFills.push(fill);
  barPercents.push(percent);
}

function showBars(probabilities, top) {
  probabilities.forEach((p, digit) => {
    barFills[digit].style.width = `${(100 * p).toFixed(1)}%`;
    barPercents[digit].textContent = p > 0 ? `${(100 * p).toFixed(p >= 0.995 || p < 0.1 ? 0 : 1)}%` : "";
    barRows[digit].classList.toggle("top", digit === top);
    barRows[digit].dataset.probability = String(p);
  });
}

function showInput(levels) {
  const inputContext = inputView.getContext("2d");
  const image = inputContext.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const level = levels ? levels[i] : 0;
    image.data.set([level, level, level, 255], 4 * i);
  }
  inputContext.putImageData(image, 0, 0);
}

function showAnswer(answer, answered) {
  statusLine.textContent = "";
  // A number has no top-level digit: show its first digit's bars and input.
  const shown = answer.digit == null ? answer.digits[0] : answer;
  prediction.textContent = String(shown.digit);
  prediction.dataset.version = String(answered);
  const p = shown.probabilities[shown.digit];
  const sure = shown.confident === false ? " (not sure)" : "";
  confidence.textContent = `${(100 * p).toFixed(1)}% sure${sure}`;
  // Whole numbers (`text`), as predict reads them.
  if (typeof answer.text === "string" && answer.text.length > 1) {
    textLine.textContent = `Reads the number ${answer.text}`;
    textLine.hidden = false;
  } else {
    textLine.hidden = true;
  }
  showBars(shown.probabilities, shown.digit);
  showInput(answer.input);
}

function showBlank(answered) {
  statusLine.textContent = "";
  prediction.textContent = "\u2013";
  prediction.dataset.version = String(answered);
  confidence.textContent = "Waiting for a digit";
  textLine.hidden = true;
  showBars(new Array(10).fill(0), -1);
  showInput(null);
}

function showError(message, answered = version) {
  showBlank(answered);
  statusLine.textContent = message;
}

// ---- Models ----------------------------------------------------------------------

function describe(model) {
  const accuracy = model.test_accuracy == null ? "test accuracy not recorded"
    : `${(100 * model.test_accuracy).toFixed(2)}% on MNIST's test set`;
  return `${model.architecture} \u00b7 ${model.parameters.toLocaleString("en")} parameters \u00b7 ${accuracy}`;
}

async function loadModels() {
  try {
    const response = await fetch("/api/models");
    const { models } = await response.json();
    for (const model of models) {
      const option = document.createElement("option");
      option.value = model.id;
      option.textContent = model.test_accuracy == null ? model.id
        : `${model.id} (${(100 * model.test_accuracy).toFixed(2)}%)`;
      option.selected = model.default;
      option.dataset.description = describe(model);
      modelPicker.appendChild(option);
    }
    showModel();
  } catch (error) {
    showError(`could not list the models (${error.message})`);
  }
}

function showModel() {
  const option = modelPicker.selectedOptions[0];
  modelInfo.textContent = option ? option.dataset.description : "";
}

modelPicker.addEventListener("change", () => {
  showModel();
  changed(true);
});

// Redraw in the new colours when the system switches between light and dark.
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redraw);

redraw();
showBlank(version);
canvas.dataset.version = String(version);
loadModels();
