// Cognate console: small enhancements over pages that work without JavaScript.
// - Copy buttons: <button data-copy="ID"> copies the text of the element with that id.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  event.preventDefault();
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(
    () => { button.textContent = "Copied"; },
    () => { button.textContent = "Copy failed: select the text"; },
  );
});
// - Long forms: <form data-progress="ID"> shows the (hidden) element ID while the server
//   works, and disables its submit button so it is not sent twice.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-progress]");
  if (!form) return;
  const progress = document.getElementById(form.dataset.progress);
  if (progress) progress.hidden = false;
  form.setAttribute("aria-busy", "true");
  // After this event the browser has taken the form's data; disabling now is safe.
  setTimeout(() => form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; }), 0);
});
