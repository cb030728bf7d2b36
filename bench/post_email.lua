-- wrk script for scripts/bench.sh's `rest` section: POST /api/emails with a
-- 1 KB Markdown body (status Entwurf, so nothing is sent).
--   wrk -s bench/post_email.lua http://127.0.0.1:PORT/api/emails
local markdown = table.concat({
  "# Ihre Anfrage bei der Therapievermittlung",
  "",
  "Sehr geehrte Frau Dr. Beispiel,",
  "",
  "wir möchten Ihnen **drei neue Anfragen** von Patientinnen und Patienten weiterleiten,",
  "die einen Therapieplatz in Ihrer Nähe suchen. Die Angaben im Überblick:",
  "",
  "| Anfrage | Alter | Verfahren | Zeitraum |",
  "| --- | --- | --- | --- |",
  "| A-1042 | 34 | Verhaltenstherapie | ab Januar |",
  "| A-1043 | 27 | Tiefenpsychologie | sofort |",
  "| A-1044 | 45 | Verhaltenstherapie | ab Februar |",
  "",
  "Bitte antworten Sie bis zum *15. des Monats*, ob Sie einen der Plätze anbieten können.",
  "Alle Details finden Sie unter https://example.org/anfragen/1042 im Portal.",
  "",
  "- Rückfragen gern per Telefon oder E-Mail",
  "- ~~Fax~~ wird nicht mehr unterstützt",
  "- Termine werden automatisch bestätigt",
  "",
  "> Hinweis: Die Anfragen sind anonymisiert. Name, Anschrift und Versicherung teilen wir",
  "> Ihnen erst mit, wenn Sie einen Platz zusagen. Bitte leiten Sie diese Nachricht nicht",
  "> an Dritte weiter.",
  "",
  "Mit freundlichen Grüßen",
  "Ihr Team der Therapievermittlung",
}, "\n")

local function quote(s)
  return '"' .. s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('\n', '\\n') .. '"'
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{" ..
  '"therapist_id": 7, ' ..
  '"betreff": "Neue Anfragen für Ihre Praxis", ' ..
  '"empfaenger_email": "praxis@example.org", ' ..
  '"empfaenger_name": "Dr. Beispiel", ' ..
  '"inhalt_markdown": ' .. quote(markdown) ..
  "}"

