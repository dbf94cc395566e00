// Sends the typed request to /v1/parse and shows the JSON answer (or the error it gave). When
// the answer asks a question (a required slot was not said), the next request, typed or spoken,
// answers it: it goes with the answer's conversation_id.
"use strict";

const form = document.getElementById("parse-form");
const textInput = document.getElementById("text");
const tzInput = document.getElementById("timezone");
const keyInput = document.getElementById("api-key");
const statusLine = document.getElementById("status");
const result = document.getElementById("result");

tzInput.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
keyInput.value = sessionStorage.getItem("intentforge-api-key") || "";

function authHeaders() {
  const key = keyInput.value.trim();
  sessionStorage.setItem("intentforge-api-key", key);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// Shared with voice.js: shows any API answer in the page.
window.intentforgeShow = function (status, body) {
  statusLine.textContent = status;
  result.textContent = JSON.stringify(body, null, 2);
};
window.intentforgeAuthHeaders = authHeaders;

// The conversation whose question the next request answers (null: a new request). Shared with
// voice.js, so a typed question can be answered by voice and the other way round.
window.intentforgeConversation = null;
window.intentforgeAsked = function (body) {
  window.intentforgeConversation = (body && body.conversation_id) || null;
  textInput.placeholder = window.intentforgeConversation
    ? `answer: ${body.question}`
    : "remind me to buy milk tomorrow at 5pm";
};

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  statusLine.textContent = "parsing…";
  const started = performance.now();
  try {
    const response = await fetch("/v1/parse", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({
        text: textInput.value,
        timezone: tzInput.value || null,
        conversation_id: window.intentforgeConversation,
      }),
    });
    const body = await response.json();
    const ms = Math.round(performance.now() - started);
    const asked = response.ok && body.question ? ` — ${body.question}` : "";
    window.intentforgeShow(`${response.status} in ${ms} ms${asked}`, body);
    // An expired conversation (410) or any answer ends the question; a new question starts one.
    window.intentforgeAsked(response.ok ? body : null);
    if (response.ok) {
      textInput.value = "";
    }
  } catch (err) {
    window.intentforgeShow("request failed", { error: String(err) });
  }
});
