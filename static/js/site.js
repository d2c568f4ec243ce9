// Site-wide behaviour. Loaded as a file so the content security policy can forbid inline scripts.
document.addEventListener("DOMContentLoaded", () => {
  // Selects marked js-autosubmit (the language switcher) submit their form on change.
  document.querySelectorAll("select.js-autosubmit").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
});
