// Confirmation for destructive forms, with or without htmx. Inline handlers
// are blocked by the Content-Security-Policy, so this listens on the document.
document.addEventListener("submit", function (ev) {
  var form = ev.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.getAttribute("data-confirm"))) {
    ev.preventDefault();
    ev.stopImmediatePropagation();
  }
}, true);
