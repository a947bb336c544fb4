// Strings, numbers and dates of the page scripts in the reader's language.
//
// The server embeds the translations of every hhT("...") string of static/*.js in
//   <script id="hh-messages" type="application/json">{...}</script>
// (see hyperhealth/delivery/web/_i18n.py, js_messages). Write strings whole, with named
// placeholders, so that translators can reorder them:
//   hhT("Access for %(name)s revoked.", {name: grantee})
// The language is <html lang>; numbers and dates use the same locales as the server
// (Spanish: Latin-American, es-419).
(function () {
  "use strict";

  var messages = null;
  var LOCALES = { en: "en", es: "es-419" };

  function table() {
    if (messages === null) {
      var el = document.getElementById("hh-messages");
      try {
        messages = el ? JSON.parse(el.textContent || "{}") : {};
      } catch (e) {
        messages = {};
      }
    }
    return messages;
  }

  function fill(text, values) {
    if (!values) return text;
    return text.replace(/%\((\w+)\)s/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : all;
    });
  }

  // hhT(text, {name: value}): the translation of text, placeholders %(name)s filled in.
  window.hhT = function (text, values) {
    var m = table();
    var out = Object.prototype.hasOwnProperty.call(m, text) && m[text] ? m[text] : text;
    return fill(out, values);
  };

  // The page language ("en", "es") and its locale for Intl.
  window.hhLang = function () {
    var lang = (document.documentElement.getAttribute("lang") || "en").slice(0, 2);
    return Object.prototype.hasOwnProperty.call(LOCALES, lang) ? lang : "en";
  };
  window.hhLocale = function () {
    return LOCALES[window.hhLang()];
  };

  // hhNumber(1234.5, 1) -> "1,234.5"; digits omitted: as many as the number has (up to 3).
  window.hhNumber = function (value, digits) {
    if (value === null || value === undefined || isNaN(value)) return "";
    var opts = digits === undefined ? { maximumFractionDigits: 3 }
      : { minimumFractionDigits: digits, maximumFractionDigits: digits };
    return new Intl.NumberFormat(window.hhLocale(), opts).format(value);
  };

  // hhDateTime(iso or Date, {timeZone: "America/Chicago"}) -> "May 1, 2024, 1:05 PM".
  window.hhDateTime = function (value, options) {
    if (value === null || value === undefined || value === "") return "";
    var d = value instanceof Date ? value : new Date(value);
    if (isNaN(d.getTime())) return String(value);
    var opts = Object.assign({ dateStyle: "medium", timeStyle: "short" }, options || {});
    return new Intl.DateTimeFormat(window.hhLocale(), opts).format(d);
  };
})();
