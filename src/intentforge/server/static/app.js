// Sends the typed request to /v1/parse and shows the JSON answer (or the error it gave).
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

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  statusLine.textContent = "parsing…";
  const started = performance.now();
  try {
    const response = await fetch("/v1/parse", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({ text: textInput.value, timezone: tzInput.value || null }),
    });
    const body = await response.json();
    const ms = Math.round(performance.now() - started);
    window.intentforgeShow(`${response.status} in ${ms} ms`, body);
  } catch (err) {
    window.intentforgeShow("request failed", { error: String(err) });
  }
});
