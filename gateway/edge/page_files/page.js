// The FAME Gateway's practitioner page: sign in, find a person, see their picture by
// agency, the merged timeline, what was withheld and why, and act on consent and grants.
// It talks to /graphql like any front end. Served as a file: the page's
// Content-Security-Policy allows no inline script or style, and nothing from elsewhere.
// What varies with the gateway (the person query, the record sets, the plain words for
// reasons and failures, the sample practitioners) comes from the page's model; the
// agencies come from each answer. The token is kept in this tab's sessionStorage only.
"use strict";

(function () {
  const TOKEN_KEY = "fame-page-token";
  const SESSION_QUERY = `query PractitionerSession {
    me { practitioner name agency team roles purpose }
    agencies { id name }
    sharingProtocol {
      clauses { agencies items category sealed }
      breakGlass { roles hours reasons { name description } }
      consentForms { name description ownWords }
    }
  }`;
  const FIND_QUERY = `query PractitionerFind($nhsNumber: String, $surname: String,
      $dateOfBirth: Date, $postcode: String) {
    findPeople(nhsNumber: $nhsNumber, surname: $surname, dateOfBirth: $dateOfBirth,
      postcode: $postcode) { personId givenName familyName dateOfBirth agencies }
  }`;
  const CONSENT_FIELDS = `id scopeKind scope recipientKind recipient decision validFrom
    validUntil withdrawnAt recordedBy reference referenceForm`;
  const CONSENTS_QUERY = `query PractitionerConsents($id: ID!) {
    consents(personId: $id) { ${CONSENT_FIELDS} } }`;
  const RECORD_CONSENT = `mutation PractitionerRecordConsent($input: ConsentInput!) {
    recordConsent(input: $input) { ${CONSENT_FIELDS} } }`;
  const WITHDRAW_CONSENT = `mutation PractitionerWithdrawConsent($id: ID!, $reference: String) {
    withdrawConsent(id: $id, reference: $reference) { ${CONSENT_FIELDS} } }`;
  const GRANT_FIELDS = "id purpose reasonCategory reference reason grantedAt expiresAt";
  const BREAK_GLASS = `mutation PractitionerBreakGlass($id: ID!, $category: String!,
      $reason: String!) {
    breakGlass(personId: $id, reasonCategory: $category, reason: $reason) { ${GRANT_FIELDS} } }`;
  const SAFEGUARDING = `mutation PractitionerSafeguarding($id: ID!, $reference: String!,
      $reason: String!) {
    claimSafeguarding(personId: $id, reference: $reference, reason: $reason) { ${GRANT_FIELDS} } }`;
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
    "Dec"];

  const $ = (id) => document.getElementById(id);
  const status = $("status");
  let model = null;
  let token = "";
  let session = null; // { me, agencyNames, protocol }
  let current = null; // { id, entry, answer, consents, grants }

  class SignedOut extends Error {}

  // ------------------------------------------------------------------ small helpers

  // An element with attributes and children; text is always set as text, never as HTML.
  function h(tag, attrs, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) {
        continue;
      }
      if (name === "class") {
        element.className = value;
      } else if (name === "text") {
        element.textContent = value;
      } else if (name.startsWith("on")) {
        element.addEventListener(name.slice(2), value);
      } else {
        element.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) {
        continue;
      }
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  let counter = 0;
  function uid(prefix) {
    counter += 1;
    return prefix + "-" + counter;
  }

  function say(message, kind) {
    status.textContent = message;
    status.className = "status" + (kind ? " status--" + kind : "");
  }

  function words(snake) {
    const text = String(snake || "").replace(/[_.]/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  // A role as the protocol names it, in words; lower-case inside a sentence, acronyms kept.
  function roleName(role, inSentence) {
    const text = (model.roles && model.roles[role]) || words(role);
    return inSentence && !/^[A-Z]{2}/.test(text)
      ? text.charAt(0).toLowerCase() + text.slice(1) : text;
  }

  function sentence(text) {
    const trimmed = String(text || "").trim();
    const start = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
    return /[.!?]$/.test(start) ? start : start + ".";
  }

  function formatDate(value) {
    const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value || "");
    if (!match) {
      return value || "";
    }
    return Number(match[3]) + " " + MONTHS[Number(match[2]) - 1] + " " + match[1];
  }

  function formatInstant(value) {
    const at = new Date(value);
    if (Number.isNaN(at.getTime())) {
      return value || "";
    }
    const time = String(at.getHours()).padStart(2, "0") + ":" +
      String(at.getMinutes()).padStart(2, "0");
    return formatDate(at.getFullYear() + "-" + String(at.getMonth() + 1).padStart(2, "0") +
      "-" + String(at.getDate()).padStart(2, "0")) + ", " + time;
  }

  function formatNhs(value) {
    const digits = String(value || "").replace(/\D/g, "");
    return digits.length === 10
      ? digits.slice(0, 3) + " " + digits.slice(3, 6) + " " + digits.slice(6) : value;
  }

  function display(value, kind) {
    if (value === null || value === undefined || value === "") {
      return null;
    }
    if (kind === "Date") {
      return formatDate(value);
    }
    if (kind === "Boolean") {
      return value ? "Yes" : "No";
    }
    return String(value);
  }

  function agencyName(id) {
    return (session && session.agencyNames[id]) || id;
  }

  function get(object, path) {
    let value = object;
    for (const key of path) {
      if (value === null || value === undefined) {
        return value;
      }
      value = value[key];
    }
    return value;
  }

  function errorText(body, fallback) {
    const errors = (body && body.errors) || [];
    return errors.length ? errors.map((e) => e.message).join(" ") : fallback;
  }

  // ------------------------------------------------------------------ the gateway

  async function graphql(query, variables) {
    const headers = {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
    };
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    let response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        headers: headers,
        body: JSON.stringify({ query: query, variables: variables || {} }),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      return { status: 0, body: { errors: [{ message: "The gateway could not be reached." }] } };
    }
    let body;
    try {
      body = await response.json();
    } catch (_) {
      body = { errors: [{ message: "The gateway answered HTTP " + response.status + "." }] };
    }
    if (response.status === 401) {
      signOut("Your sign-in was not accepted: " + errorText(body, "HTTP 401") +
        " Sign in again.", "error");
      throw new SignedOut();
    }
    return { status: response.status, body: body };
  }

  // ------------------------------------------------------------------ signing in

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (_) {
      return "";
    }
  }

  function keepToken(value) {
    token = value;
    try {
      if (value) {
        sessionStorage.setItem(TOKEN_KEY, value);
      } else {
        sessionStorage.removeItem(TOKEN_KEY);
      }
    } catch (_) {
      // Storage refused (private mode): the token lasts until the page is left.
    }
  }

  function showSignIn() {
    $("session").hidden = true;
    $("workspace").hidden = true;
    $("sign-in").hidden = false;
  }

  function signOut(message, kind) {
    keepToken("");
    session = null;
    current = null;
    $("person").hidden = true;
    $("person").replaceChildren();
    $("results").hidden = true;
    $("search-form").reset();
    showSignIn();
    say(message || "Signed out.", kind);
  }

  function renderPractitioners() {
    const list = $("practitioners");
    list.replaceChildren();
    if (!model.demoTokenPath || !model.practitioners.length) {
      return;
    }
    for (const who of model.practitioners) {
      const detail = uid("practitioner");
      list.append(h("li", { class: "practitioners__item" },
        h("button", {
          type: "button",
          class: "button button--secondary practitioners__button",
          "aria-describedby": detail,
          onclick: () => signInAs(who),
        }, who.name),
        h("span", { id: detail, class: "practitioners__detail" },
          [who.roles.map((r) => roleName(r)).join(", "), who.team === who.agency ? null : who.team,
            who.agency_name].filter(Boolean).join(" · "))));
    }
    $("demo-sign-in").hidden = false;
  }

  async function signInAs(who) {
    say("Signing in as " + who.name + "…");
    let response;
    try {
      response = await fetch(model.demoTokenPath, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ practitioner: who.id }),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (_) {
      say("The gateway could not be reached.", "error");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.token) {
      say("Could not sign in: " + errorText(body, "HTTP " + response.status), "error");
      return;
    }
    await startSession(body.token);
  }

  async function startSession(value) {
    keepToken(value.trim().replace(/^Bearer\s+/i, ""));
    let answer;
    try {
      answer = await graphql(SESSION_QUERY);
    } catch (error) {
      if (error instanceof SignedOut) {
        return;
      }
      throw error;
    }
    const data = answer.body.data;
    if (!data || !data.me) {
      signOut("Could not sign in: " + errorText(answer.body, "HTTP " + answer.status), "error");
      return;
    }
    const agencyNames = {};
    for (const agency of data.agencies || []) {
      agencyNames[agency.id] = agency.name;
    }
    // Without the protocol (a partial answer) the forms offer no choices; the gateway
    // still decides every action.
    const protocol = data.sharingProtocol || {
      clauses: [], breakGlass: { roles: [], hours: 0, reasons: [] }, consentForms: [],
    };
    session = { me: data.me, agencyNames: agencyNames, protocol: protocol };
    const me = data.me;
    $("session-who").replaceChildren(
      h("span", { class: "visually-hidden" }, "Signed in as "),
      h("strong", {}, me.name || me.practitioner),
      h("span", { class: "masthead__role" },
        [me.roles.map((r) => roleName(r)).join(", "), me.team === me.agency ? null : me.team,
          agencyName(me.agency)]
          .filter(Boolean).join(" · ")));
    $("session").hidden = false;
    $("sign-in").hidden = true;
    $("workspace").hidden = false;
    $("token").value = "";
    say("Signed in as " + (me.name || me.practitioner) + ". Find a person by exact identifiers.");
    $("nhs-number").focus();
  }

  // ------------------------------------------------------------------ finding people

  async function find(event) {
    event.preventDefault();
    const nhs = $("nhs-number").value.replace(/\s/g, "");
    const surname = $("surname").value.trim();
    const dateOfBirth = $("date-of-birth").value;
    const postcode = $("postcode").value.trim().toUpperCase();
    let variables;
    if (nhs) {
      variables = { nhsNumber: nhs };
    } else if (surname && dateOfBirth && postcode) {
      variables = { surname: surname, dateOfBirth: dateOfBirth, postcode: postcode };
    } else {
      say("Give an NHS number, or surname, date of birth and postcode together.", "error");
      (nhs || surname ? $(surname ? (dateOfBirth ? "postcode" : "date-of-birth") : "surname")
        : $("nhs-number")).focus();
      return;
    }
    say("Searching…");
    let answer;
    try {
      answer = await graphql(FIND_QUERY, variables);
    } catch (error) {
      if (error instanceof SignedOut) {
        return;
      }
      throw error;
    }
    const people = answer.body.data && answer.body.data.findPeople;
    if (!people) {
      say("The search failed: " + errorText(answer.body, "HTTP " + answer.status), "error");
      return;
    }
    renderResults(people);
  }

  function renderResults(people) {
    const list = $("results-list");
    list.replaceChildren();
    for (const entry of people) {
      const name = [entry.givenName, entry.familyName].filter(Boolean).join(" ") || "Name withheld";
      list.append(h("li", { class: "result" },
        h("div", { class: "result__who" },
          h("p", { class: "result__name" }, name),
          h("p", { class: "result__meta" },
            entry.dateOfBirth ? "Born " + formatDate(entry.dateOfBirth) : "",
            entry.agencies.length
              ? " · Known to " + entry.agencies.map(agencyName).join(", ") : "")),
        h("button", {
          type: "button",
          class: "button",
          onclick: () => openPerson(entry),
        }, "Open record", h("span", { class: "visually-hidden" }, " of " + name))));
    }
    if (!people.length) {
      list.append(h("li", { class: "result result--none" },
        "No one was found with exactly these details. Check them, or search with other " +
        "identifiers."));
    }
    $("results").hidden = false;
    $("results-heading").textContent = people.length === 1 ? "1 person found"
      : people.length + " people found";
    say($("results-heading").textContent + ".");
    $("results-heading").focus();
  }

  // ------------------------------------------------------------------ one person

  async function openPerson(entry) {
    current = { id: entry.personId, entry: entry, answer: null, consents: [], grants: [] };
    await refresh("Opening the record…", true);
  }

  async function refresh(message, focusHeading) {
    if (!current) {
      return;
    }
    say(message || "Refreshing the picture…");
    const viewing = current;
    let answer;
    let consents;
    try {
      answer = await graphql(model.personQuery, { id: viewing.id });
      consents = answer.body.data && answer.body.data.person
        ? await graphql(CONSENTS_QUERY, { id: viewing.id }) : null;
    } catch (error) {
      if (error instanceof SignedOut) {
        return false;
      }
      throw error;
    }
    if (current !== viewing) {
      return false; // signed out, or another person opened, meanwhile
    }
    current.answer = answer;
    current.consents = (consents && consents.body.data && consents.body.data.consents) || [];
    renderPerson();
    const person = answer.body.data && answer.body.data.person;
    if (person) {
      const withheld = ((answer.body.extensions || {}).withheld || []).length;
      const down = unavailable(answer.body);
      say("Showing the record of " + personName(person) + ". " +
        (withheld ? withheld + " item" + (withheld === 1 ? " is" : "s are") +
          " withheld from you. " : "Nothing is withheld from you. ") +
        (down.size ? down.size + " agenc" + (down.size === 1 ? "y is" : "ies are") +
          " unavailable." : "Every agency answered."));
    } else if (notFound(answer.body)) {
      say("The record is not available to you. In an emergency you may break glass.", "error");
    } else {
      say(errorText(answer.body, "The record could not be opened."), "error");
    }
    if (focusHeading) {
      $("person-heading").focus();
    }
    return true;
  }

  // The gateway answers a person you have no relationship with exactly as an unknown id.
  function notFound(body) {
    return (body.errors || []).some((e) => e.extensions && e.extensions.code === "NOT_FOUND");
  }

  function personName(person) {
    const d = person.demographics;
    const entry = current.entry;
    const given = (d && d.givenName) || entry.givenName;
    const family = (d && d.familyName) || entry.familyName;
    return [given, family].filter(Boolean).join(" ") || "Name withheld";
  }

  // Agencies that could not answer: id -> { code, message }.
  function unavailable(body) {
    const down = new Map();
    const sources = (body.extensions && body.extensions.sources) || {};
    for (const [agency, source] of Object.entries(sources)) {
      if (source.status && source.status !== "ok") {
        down.set(agency, { code: source.status, message: "" });
      }
    }
    for (const error of body.errors || []) {
      const agency = error.extensions && error.extensions.agency;
      if (agency) {
        const known = down.get(agency) || { code: error.extensions.code, message: "" };
        known.message = error.message;
        down.set(agency, known);
      }
    }
    return down;
  }

  function recordSetOf(entry) {
    const name = entry.item ? entry.item.split(".")[0] : null;
    for (const rs of model.recordSets) {
      if (name ? rs.name === name : samePrefix(entry.path.slice(1), rs.path)) {
        return rs;
      }
    }
    return null;
  }

  function samePrefix(path, prefix) {
    return prefix.every((key, index) => path[index] === key);
  }

  function fieldOf(rs, entry) {
    if (!rs) {
      return null;
    }
    const field = entry.item ? entry.item.split(".")[1] : null;
    return rs.fields.find((f) => (field ? f.item === entry.item : f.name === entry.path.at(-1)));
  }

  function renderPerson() {
    const article = $("person");
    const body = current.answer.body;
    const person = body.data && body.data.person;
    article.hidden = false;
    if (!person) {
      article.replaceChildren(...notAvailable(body));
      return;
    }
    const down = unavailable(body);
    const withheld = (body.extensions && body.extensions.withheld) || [];
    const agencies = [];
    const seen = new Set();
    const note = (id) => {
      if (id && !seen.has(id)) {
        seen.add(id);
        agencies.push(id);
      }
    };
    for (const agency of person.knownTo || []) {
      session.agencyNames[agency.id] = session.agencyNames[agency.id] || agency.name;
      note(agency.id);
    }
    // Records group by the agency each came from; withheld items and failures by theirs.
    const rows = new Map();
    for (const rs of model.recordSets.filter((r) => r.place === "agency")) {
      for (const row of get(person, rs.path) || []) {
        note(row.agency.id);
        session.agencyNames[row.agency.id] = row.agency.name;
        const key = row.agency.id + "|" + rs.name;
        if (!rows.has(key)) {
          rows.set(key, []);
        }
        rows.get(key).push(row);
      }
    }
    withheld.forEach((entry) => note(entry.agency));
    down.forEach((_value, id) => note(id));
    article.replaceChildren(
      personHeader(person, body),
      h("div", { class: "person__layout" },
        h("div", { class: "person__main" },
          agencyStatus(agencies, down),
          withheldSummary(withheld),
          byAgency(agencies, rows, withheld, down),
          timeline(person)),
        h("div", { class: "person__aside" }, actions())));
  }

  function notAvailable(body) {
    const entry = current.entry;
    const name = [entry.givenName, entry.familyName].filter(Boolean).join(" ") || "this person";
    return [
      h("header", { class: "person__header" },
        h("h2", { id: "person-heading", tabindex: "-1" }, name)),
      h("div", { class: "callout callout--warning" },
        h("h3", {}, notFound(body) ? "The record is not available to you"
          : "The record could not be opened"),
        notFound(body)
          ? h("p", {}, "Records are shared with practitioners whose team is currently " +
            "involved with the person. In an emergency you may break glass: say why, and a " +
            "Caldicott guardian reviews it.")
          : h("p", {}, errorText(body, "The gateway gave no reason."))),
      h("div", { class: "person__actions" }, breakGlassCard()),
    ];
  }

  function personHeader(person, body) {
    const d = person.demographics || {};
    const model_ = recordSetByName("demographics");
    const facts = [];
    for (const field of model_ ? model_.fields : []) {
      if (field.name === "givenName" || field.name === "familyName") {
        continue;
      }
      const value = field.name === "nhsNumber" ? formatNhs(d[field.name])
        : display(d[field.name], field.kind);
      facts.push(h("div", { class: "facts__item" },
        h("dt", {}, field.label),
        h("dd", {}, value === null ? h("span", { class: "muted" }, "Not shared") : value)));
    }
    const grants = ((body.extensions && body.extensions.breakGlass) || []).map((g) =>
      h("p", { class: "callout callout--emergency" },
        h("strong", {}, "Emergency access (break glass) in force"),
        " until " + formatInstant(g.expiresAt) + ": " + g.reason));
    for (const grant of current.grants.filter((g) => g.purpose === "safeguarding")) {
      grants.push(h("p", { class: "callout callout--emergency" },
        h("strong", {}, "Safeguarding established"),
        " (" + grant.reference + ") until " + formatInstant(grant.expiresAt) + ": " +
        grant.reason));
    }
    return h("header", { class: "person__header" },
      h("div", { class: "person__title" },
        h("h2", { id: "person-heading", tabindex: "-1" }, personName(person)),
        person.demographics ? h("p", { class: "person__source" },
          "Details from " + person.demographics.agency.name) : null),
      h("dl", { class: "facts" }, facts),
      grants);
  }

  function recordSetByName(name) {
    return model.recordSets.find((rs) => rs.name === name);
  }

  function sourceStatus(code) {
    return model.sourceStatuses[code] ||
      { label: "Unavailable", text: "The agency's system did not answer (" + code + ")." };
  }

  function agencyStatus(agencies, down) {
    // Those that answered first, then those that could not, each with why.
    const ordered = agencies.filter((id) => !down.has(id))
      .concat(agencies.filter((id) => down.has(id)));
    const items = ordered.map((id) => {
      const failed = down.get(id);
      return h("li", { class: "agencies__item" + (failed ? " agencies__item--down" : "") },
        h("span", { class: "agencies__name" }, agencyName(id)),
        h("span", { class: "tag " + (failed ? "tag--down" : "tag--ok") },
          failed ? sourceStatus(failed.code).label : "Answered"),
        failed ? h("span", { class: "agencies__why" }, sourceStatus(failed.code).text) : null);
    });
    return h("section", { class: "card", "aria-labelledby": "agencies-heading" },
      h("h3", { id: "agencies-heading" }, "Agencies involved"),
      h("ul", { class: "agencies" }, items));
  }

  function withheldGroups(entries) {
    // One line per agency, record set and reason: "Conditions: name, onset, status".
    const groups = new Map();
    for (const entry of entries) {
      const rs = recordSetOf(entry);
      const key = (entry.agency || "") + "|" + (rs ? rs.name : entry.path.join(".")) + "|" +
        entry.reason;
      if (!groups.has(key)) {
        groups.set(key, { agency: entry.agency, rs: rs, reason: entry.reason, fields: [],
          entry: entry });
      }
      const field = fieldOf(rs, entry);
      const fieldLabel = field ? field.label : entry.path.at(-1);
      const group = groups.get(key);
      if (!group.fields.includes(fieldLabel)) {
        group.fields.push(fieldLabel);
      }
    }
    return [...groups.values()];
  }

  function reasonOf(code) {
    return model.reasons[code] || { title: words(code), text: "", action: "" };
  }

  function withheldSummary(entries) {
    const heading = h("h3", { id: "withheld-heading" }, "Withheld from you");
    if (!entries.length) {
      return h("section", { class: "card", "aria-labelledby": "withheld-heading" }, heading,
        h("p", {}, "Nothing in this picture was withheld from you."));
    }
    const items = withheldGroups(entries).map((group) => {
      const reason = reasonOf(group.reason);
      const what = (group.rs ? group.rs.title : "Item") + ": " + group.fields.join(", ");
      const action = reason.action === "consent" && group.agency
        ? h("button", {
          type: "button",
          class: "button button--secondary button--small",
          onclick: () => prefillConsent(group),
        }, "Record consent", h("span", { class: "visually-hidden" }, " for " + what))
        : null;
      return h("li", { class: "withheld__item" },
        h("p", { class: "withheld__what" },
          h("strong", {}, what),
          group.agency ? h("span", { class: "withheld__agency" }, " from " +
            agencyName(group.agency)) : null),
        h("p", { class: "withheld__reason" },
          h("span", { class: "tag tag--withheld" }, reason.title), " ", reason.text),
        action);
    });
    return h("section", { class: "card card--withheld", "aria-labelledby": "withheld-heading" },
      heading,
      h("p", { class: "hint" }, "These items exist in an agency's record but are not shared " +
        "with you. Nothing was asked of the agency for them."),
      h("ul", { class: "withheld" }, items));
  }

  function byAgency(agencies, rows, withheld, down) {
    const sections = agencies.map((id) => {
      const headingId = uid("agency");
      const failed = down.get(id);
      const parts = [];
      if (failed) {
        const plain = sourceStatus(failed.code);
        parts.push(h("div", { class: "callout callout--down" },
          h("p", {}, h("strong", {}, plain.label + ": "), plain.text),
          failed.message ? h("p", { class: "hint" }, "The gateway said: " + failed.message)
            : null));
      }
      const mine = withheld.filter((entry) => entry.agency === id);
      for (const rs of model.recordSets.filter((r) => r.place === "agency")) {
        const found = rows.get(id + "|" + rs.name) || [];
        const hidden = mine.filter((entry) => recordSetOf(entry) === rs);
        if (found.length) {
          parts.push(recordTable(rs, found, hidden));
        } else if (hidden.length) {
          const groups = withheldGroups(hidden);
          parts.push(h("div", { class: "records records--withheld" },
            h("h5", {}, rs.title),
            groups.map((group) => h("p", {},
              h("span", { class: "tag tag--withheld" }, reasonOf(group.reason).title),
              " " + group.fields.join(", ") + " withheld."))));
        }
      }
      if (!failed && !parts.length) {
        parts.push(h("p", { class: "muted" }, "No records from this agency in this picture."));
      }
      return h("section", { class: "agency", "aria-labelledby": headingId },
        h("h4", { id: headingId, class: "agency__heading" },
          agencyName(id),
          failed ? h("span", { class: "tag tag--down" }, sourceStatus(failed.code).label)
            : null),
        parts);
    });
    return h("section", { class: "card", "aria-labelledby": "records-heading" },
      h("h3", { id: "records-heading" }, "Records by agency"),
      sections);
  }

  function recordTable(rs, found, hidden) {
    const withheldFields = new Set(hidden.map((entry) => (fieldOf(rs, entry) || {}).name));
    const fields = rs.fields;
    return h("div", { class: "records" },
      h("h5", {}, rs.title),
      h("div", { class: "table-wrap" },
        h("table", { class: "table" },
          h("caption", { class: "visually-hidden" }, rs.title + ": " + rs.description),
          h("thead", {}, h("tr", {}, fields.map((f) => h("th", { scope: "col" }, f.label)))),
          h("tbody", {}, found.map((row) => h("tr", {}, fields.map((f) => {
            const value = display(row[f.name], f.kind);
            if (value !== null) {
              return h("td", {}, value);
            }
            return h("td", {}, withheldFields.has(f.name)
              ? h("span", { class: "tag tag--withheld" }, "Withheld")
              : h("span", { class: "muted", "aria-label": "not recorded" }, "–"));
          })))))));
  }

  function timeline(person) {
    const rs = recordSetByName("timeline");
    const events = rs ? get(person, rs.path) : null;
    const heading = h("h3", { id: "timeline-heading" }, "Timeline");
    if (!rs) {
      return null;
    }
    if (!events || !events.length) {
      return h("section", { class: "card", "aria-labelledby": "timeline-heading" }, heading,
        h("p", { class: "muted" }, events ? "No events are shared with you."
          : "The timeline is unavailable: no agency holding it could answer, or it is " +
            "withheld from you."));
    }
    const fields = rs.fields;
    const agencies = new Set(events.map((e) => e.agency.id));
    return h("section", { class: "card", "aria-labelledby": "timeline-heading" }, heading,
      h("p", { class: "hint" }, events.length + " events from " + agencies.size + " agenc" +
        (agencies.size === 1 ? "y" : "ies") + ", oldest first."),
      h("div", { class: "table-wrap" },
        h("table", { class: "table table--timeline" },
          h("caption", { class: "visually-hidden" }, "Timeline of contacts and events, " +
            "from every agency, oldest first"),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, fields[0].label),
            h("th", { scope: "col" }, "Agency"),
            fields.slice(1).map((f) => h("th", { scope: "col" }, f.label)))),
          h("tbody", {}, events.map((event) => h("tr", {},
            h("td", { class: "nowrap" }, display(event[fields[0].name], fields[0].kind) || "–"),
            h("td", {}, event.agency.name),
            fields.slice(1).map((f) => h("td", {}, display(event[f.name], f.kind) || "–"))))))));
  }

  // ------------------------------------------------------------------ actions

  function actions() {
    return h("section", { class: "person__actions", "aria-labelledby": "actions-heading" },
      h("h3", { id: "actions-heading", class: "visually-hidden" }, "Actions"),
      consentCard(),
      safeguardingCard(),
      breakGlassCard());
  }

  function field(labelText, control, hint) {
    const id = control.id || uid("field");
    control.id = id;
    const parts = [h("label", { for: id }, labelText)];
    if (hint) {
      const hintId = id + "-hint";
      parts.push(h("p", { class: "hint", id: hintId }, hint));
      control.setAttribute("aria-describedby", hintId);
    }
    return h("div", { class: "field" }, parts, control);
  }

  function categories() {
    const names = new Set();
    for (const clause of session.protocol.clauses) {
      if (!clause.sealed) {
        names.add(clause.category);
      }
    }
    return [...names].sort();
  }

  function formsHint(ownWordsOnly) {
    return session.protocol.consentForms
      .filter((form) => form.ownWords || !ownWordsOnly)
      .map((form) => form.description)
      .join(" Or: ");
  }

  function consentCard() {
    const me = session.me;
    const headingId = uid("consent");
    const scope = h("select", { id: "consent-category", class: "input" },
      h("option", { value: "" }, "Choose a category"),
      categories().map((c) => h("option", { value: c }, c)));
    const decision = h("fieldset", { class: "choices" },
      h("legend", {}, "The person's decision"),
      choice("consent-decision", "PERMIT", "Agrees to sharing", true),
      choice("consent-decision", "DENY", "Objects to sharing", false));
    const recipient = h("fieldset", { class: "choices" },
      h("legend", {}, "Shared with"),
      choice("consent-recipient", "agency:" + me.agency, agencyName(me.agency), true),
      me.roles.map((role) => choice("consent-recipient", "role:" + role,
        "Every " + roleName(role, true), false)),
      choice("consent-recipient", "agency:*", "Every agency", false));
    const reference = h("input", { id: "consent-reference", class: "input input--wide",
      autocomplete: "off" });
    const until = h("input", { id: "consent-until", type: "date", class: "input" });
    const form = h("form", { id: "consent-form", class: "form", novalidate: true,
      onsubmit: recordConsent },
    decision,
    field("Category of information", scope),
    recipient,
    field("Evidence", reference, "Where the person's decision is recorded: " + formsHint(false)),
    field("Valid until (optional)", until),
    h("button", { type: "submit", class: "button" }, "Record consent"));
    return h("section", { class: "card", "aria-labelledby": headingId },
      h("h3", { id: headingId }, "Consent"),
      consentList(),
      h("h4", {}, "Record the person's consent or objection"),
      form);
  }

  function choice(name, value, text, checked) {
    const id = uid(name);
    return h("div", { class: "choice" },
      h("input", { type: "radio", id: id, name: name, value: value, checked: checked }),
      h("label", { for: id }, text));
  }

  function consentList() {
    const active = current.consents.filter((c) => !c.withdrawnAt);
    if (!active.length) {
      return h("p", { class: "muted" }, "No consent or objection is recorded for this person.");
    }
    const reference = h("input", { id: "withdraw-reference", class: "input input--wide",
      autocomplete: "off" });
    return h("div", { class: "consents" },
      h("ul", { class: "consents__list" }, active.map((c) => {
        const what = (c.decision === "PERMIT" ? "Agrees to sharing " : "Objects to sharing ") +
          c.scope + " with " + (c.recipientKind === "agency"
          ? (c.recipient === "*" ? "every agency" : agencyName(c.recipient))
          : "every " + roleName(c.recipient, true));
        return h("li", { class: "consents__item" },
          h("p", {}, h("strong", {}, what)),
          h("p", { class: "hint" }, "Since " + formatInstant(c.validFrom) +
            (c.validUntil ? ", until " + formatInstant(c.validUntil) : "") +
            ". Evidence: " + c.reference + ". Recorded by " + c.recordedBy + "."),
          h("button", {
            type: "button",
            class: "button button--secondary button--small",
            onclick: () => withdrawConsent(c),
          }, c.decision === "PERMIT" ? "Withdraw consent" : "Lift objection",
          h("span", { class: "visually-hidden" }, ": " + what)));
      })),
      field("Evidence for withdrawing (needed to lift an objection)", reference,
        "Lifting an objection needs the person's own words: " + formsHint(true)));
  }

  function prefillConsent(group) {
    const clause = session.protocol.clauses.find((c) =>
      c.agencies.includes(group.agency) && c.items.includes(group.entry.item));
    const select = $("consent-category");
    if (clause && [...select.options].some((o) => o.value === clause.category)) {
      select.value = clause.category;
    }
    const permit = document.querySelector('input[name="consent-decision"][value="PERMIT"]');
    permit.checked = true;
    const mine = document.querySelector(
      'input[name="consent-recipient"][value="agency:' + session.me.agency + '"]');
    mine.checked = true;
    const reference = $("consent-reference");
    reference.focus();
    say("The consent form is filled in for " + (clause ? clause.category : "this item") +
      ", shared with " + agencyName(session.me.agency) + ". Add where the person's consent " +
      "is recorded, then record it.");
  }

  async function recordConsent(event) {
    event.preventDefault();
    const decision = document.querySelector('input[name="consent-decision"]:checked').value;
    const [kind, recipient] = document.querySelector(
      'input[name="consent-recipient"]:checked').value.split(/:(.*)/s);
    const reference = $("consent-reference").value.trim();
    if (!$("consent-category").value) {
      say("Choose the category of information the person's decision is about.", "error");
      $("consent-category").focus();
      return;
    }
    if (!reference) {
      say("Say where the person's decision is recorded (the evidence).", "error");
      $("consent-reference").focus();
      return;
    }
    const input = {
      personId: current.id,
      category: $("consent-category").value,
      decision: decision,
      reference: reference,
    };
    input[kind === "agency" ? "recipientAgency" : "recipientRole"] = recipient;
    if ($("consent-until").value) {
      input.validUntil = $("consent-until").value + "T23:59:59Z";
    }
    await act(RECORD_CONSENT, { input: input }, "recordConsent",
      (c) => (c.decision === "PERMIT" ? "Consent" : "Objection") + " recorded for " + c.scope +
        ".");
  }

  async function withdrawConsent(consent) {
    const reference = ($("withdraw-reference") || { value: "" }).value.trim();
    await act(WITHDRAW_CONSENT, { id: consent.id, reference: reference || null },
      "withdrawConsent", (c) => (c.decision === "PERMIT" ? "Consent" : "Objection") +
        " withdrawn for " + c.scope + ".");
  }

  function reasonArea(id) {
    return h("textarea", { id: id, class: "input input--wide", rows: "3" });
  }

  function breakGlassCard() {
    const terms = session.protocol.breakGlass;
    const headingId = uid("break-glass");
    const allowed = session.me.roles.some((role) => terms.roles.includes(role));
    const category = h("select", { id: "break-glass-category", class: "input" },
      terms.reasons.map((r) => h("option", { value: r.name }, words(r.name) + ": " +
        r.description)));
    return h("section", { class: "card card--emergency", "aria-labelledby": headingId },
      h("h3", { id: headingId }, "Emergency access (break glass)"),
      h("p", { class: "hint" }, "Opens this person's record to you alone for " + terms.hours +
        " hours, for an emergency. The reason is recorded, every agency whose data you see " +
        "is told, and a Caldicott guardian reviews it." +
        (allowed ? "" : " Your role cannot break glass under the protocol.")),
      h("form", { id: "break-glass-form", class: "form", novalidate: true,
        onsubmit: breakGlass },
      field("Reason category", category),
      field("What is happening", reasonArea("break-glass-reason"),
        "In your own words, at least 20 characters."),
      h("button", { type: "submit", class: "button button--warning" }, "Break glass")));
  }

  function safeguardingCard() {
    const headingId = uid("safeguarding");
    return h("section", { class: "card", "aria-labelledby": headingId },
      h("h3", { id: headingId }, "Claim safeguarding"),
      h("p", { class: "hint" }, "Makes safeguarding the purpose of your requests about this " +
        "person, for a recorded enquiry or referral. Time-limited and reviewed."),
      h("form", { id: "safeguarding-form", class: "form", novalidate: true,
        onsubmit: claimSafeguarding },
      field("Enquiry or referral reference", h("input", { id: "safeguarding-reference",
        class: "input", autocomplete: "off" }), model.safeguardingReference
        ? sentence(model.safeguardingReference) : null),
      field("What is happening", reasonArea("safeguarding-reason"),
        "In your own words, at least 20 characters."),
      h("button", { type: "submit", class: "button" }, "Claim safeguarding")));
  }

  async function breakGlass(event) {
    event.preventDefault();
    await act(BREAK_GLASS, {
      id: current.id,
      category: $("break-glass-category").value,
      reason: $("break-glass-reason").value,
    }, "breakGlass", (g) => "Emergency access granted until " + formatInstant(g.expiresAt) +
      ".");
  }

  async function claimSafeguarding(event) {
    event.preventDefault();
    await act(SAFEGUARDING, {
      id: current.id,
      reference: $("safeguarding-reference").value.trim(),
      reason: $("safeguarding-reason").value,
    }, "claimSafeguarding", (g) => "Safeguarding established until " +
      formatInstant(g.expiresAt) + ".");
  }

  // Run a mutation, say what happened, and show the picture as it now is.
  async function act(mutation, variables, field_, done) {
    say("Saving…");
    const viewing = current;
    let answer;
    try {
      answer = await graphql(mutation, variables);
    } catch (error) {
      if (error instanceof SignedOut) {
        return;
      }
      throw error;
    }
    if (current !== viewing) {
      return;
    }
    const result = answer.body.data && answer.body.data[field_];
    if (!result) {
      say("Not saved: " + errorText(answer.body, "HTTP " + answer.status), "error");
      return;
    }
    if (result.purpose) {
      current.grants.push(result);
    }
    const message = done(result);
    if (await refresh(message + " Refreshing the picture…", false)) {
      say(message + " The picture is refreshed.", "success");
      $("person-heading").focus();
    }
  }

  // ------------------------------------------------------------------ start

  async function start() {
    try {
      const response = await fetch(document.body.dataset.model, { credentials: "omit" });
      model = await response.json();
    } catch (_) {
      say("The page could not load its settings from the gateway. Reload to try again.",
        "error");
      return;
    }
    renderPractitioners();
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) {
        say("Paste your agency's access token first.", "error");
        $("token").focus();
        return;
      }
      startSession(value);
    });
    $("sign-out").addEventListener("click", () => signOut());
    $("search-form").addEventListener("submit", find);
    const kept = storedToken();
    if (kept) {
      await startSession(kept);
    } else {
      showSignIn();
      say("Sign in to find a person.");
    }
  }

  start();
})();
