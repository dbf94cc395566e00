// Microphone button: records with MediaRecorder, uploads to /v1/voice, shows what was heard,
// the intent and the action result, and plays the spoken reply. Click once to start, again to
// stop; recording also stops by itself after MAX_RECORD_MS. When the reply is a question ("Who
// should I send it to?"), the next recording is the answer: it goes with the conversation_id.
"use strict";

(function () {
  const MAX_RECORD_MS = 10000;
  const root = document.getElementById("voice");
  if (!root) {
    return;
  }
  root.innerHTML = `
    <div class="voice-controls">
      <button id="voice-button" type="button" aria-pressed="false">🎤 Speak</button>
      <span id="voice-status" role="status"></span>
    </div>
    <p>Heard: <q id="voice-transcript"></q></p>
    <pre id="voice-intent" aria-live="polite"></pre>
    <p>Reply: <span id="voice-reply"></span></p>
    <audio id="voice-audio" controls hidden></audio>`;

  const button = document.getElementById("voice-button");
  const status = document.getElementById("voice-status");
  const transcriptOut = document.getElementById("voice-transcript");
  const intentOut = document.getElementById("voice-intent");
  const replyOut = document.getElementById("voice-reply");
  const player = document.getElementById("voice-audio");
  let recorder = null;
  let stopTimer = null;

  if (!navigator.mediaDevices || !window.MediaRecorder) {
    button.disabled = true;
    status.textContent = "this browser cannot record audio (it needs https or localhost)";
    return;
  }

  function show(statusText, body) {
    if (window.intentforgeShow) {
      window.intentforgeShow(statusText, body);
    }
  }

  function headers() {
    return window.intentforgeAuthHeaders ? window.intentforgeAuthHeaders() : {};
  }

  function timezone() {
    const input = document.getElementById("timezone");
    return (input && input.value) || Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  }

  async function upload(blob) {
    status.textContent = "thinking…";
    const form = new FormData();
    const extension = blob.type.includes("ogg") ? "ogg" : "webm";
    form.append("audio", blob, `speech.${extension}`);
    const zone = timezone();
    if (zone) {
      form.append("timezone", zone);
    }
    if (window.intentforgeConversation) {
      form.append("conversation_id", window.intentforgeConversation);
    }
    const started = performance.now();
    try {
      const response = await fetch("/v1/voice", { method: "POST", headers: headers(), body: form });
      const body = await response.json();
      const ms = Math.round(performance.now() - started);
      status.textContent = response.ok ? `done in ${ms} ms` : body.error.message;
      show(`${response.status} in ${ms} ms`, body);
      if (window.intentforgeAsked) {
        window.intentforgeAsked(response.ok ? body : null);
      }
      if (!response.ok) {
        return;
      }
      if (body.question) {
        status.textContent = `${body.question} (click Speak to answer)`;
      }
      transcriptOut.textContent = body.transcript;
      intentOut.textContent = JSON.stringify(body.intent, null, 2);
      replyOut.textContent = body.reply;
      player.src = `data:audio/wav;base64,${body.reply_audio.base64}`;
      player.hidden = false;
      // Browsers may refuse autoplay; the controls stay there to play it by hand.
      player.play().catch(() => {});
    } catch (err) {
      status.textContent = "request failed";
      show("request failed", { error: String(err) });
    }
  }

  async function start() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      status.textContent = `no microphone: ${err.message || err}`;
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size > 0) {
        chunks.push(event.data);
      }
    });
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      clearTimeout(stopTimer);
      button.textContent = "🎤 Speak";
      button.setAttribute("aria-pressed", "false");
      const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      recorder = null;
      upload(blob);
    });
    recorder.start();
    button.textContent = "■ Stop";
    button.setAttribute("aria-pressed", "true");
    status.textContent = "listening… click again when done";
    transcriptOut.textContent = "";
    intentOut.textContent = "";
    replyOut.textContent = "";
    stopTimer = setTimeout(() => recorder && recorder.stop(), MAX_RECORD_MS);
  }

  button.addEventListener("click", () => {
    if (recorder) {
      recorder.stop();
    } else {
      start();
    }
  });
})();
