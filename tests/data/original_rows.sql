-- Rows as the original service leaves them (on original_layout.sql): a
-- queued email to a patient, a sent one, a draft, a failed one, a queued one
-- whose first attempt failed just now (the queue processor waits for its
-- retry backoff; an event sends it at once); phone calls planned and
-- completed. Timestamps are explicit (emails have no defaults);
-- one row keeps a NULL updated_at, as rows the original never updated do.
-- Written without therapeutenanfrage_id so that it also fits the layout
-- after the original's first migration only.

INSERT INTO communication_service.emails
  (id, therapist_id, patient_id, betreff, inhalt_html, inhalt_text, empfaenger_email,
   empfaenger_name, absender_email, absender_name, status, in_warteschlange_am, gesendet_am,
   wiederholungsanzahl, created_at, updated_at)
VALUES
  (1, NULL, 41, 'Ihr Therapieplatz', '<p>Guten Tag, <b>Frau Müller</b></p>',
   'Guten Tag, Frau Müller', 'mueller@example.org', 'Frau Müller', 'info@example.org',
   'Praxis Dr. Öz', 'In_Warteschlange', '2026-11-02 09:00:00', NULL, 0,
   '2026-11-02 08:59:00', NULL),
  (2, 7, NULL, 'Anfrage Therapieplatz', '<p>Sehr geehrte Frau Dr. Weber</p>',
   'Sehr geehrte Frau Dr. Weber', 'weber@example.org', 'Dr. Weber', 'info@example.org',
   'Praxis Dr. Öz', 'Gesendet', '2026-10-30 10:00:00', '2026-10-30 10:00:05', 0,
   '2026-10-30 09:58:00', '2026-10-30 10:00:05'),
  (3, 8, NULL, 'Entwurf einer Anfrage', '<p>Entwurf</p>', 'Entwurf', 'schulz@example.org',
   'Dr. Schulz', 'info@example.org', 'Praxis Dr. Öz', 'Entwurf', NULL, NULL, 0,
   '2026-11-01 12:00:00', '2026-11-01 12:00:00'),
  (4, NULL, 42, 'Erinnerung', '<p>Erinnerung</p>', 'Erinnerung', 'bad@example.invalid',
   'Herr Bad', 'info@example.org', 'Praxis Dr. Öz', 'Fehlgeschlagen', '2026-10-29 08:00:00',
   NULL, 3, '2026-10-29 07:59:00', '2026-10-29 08:30:00'),
  (5, NULL, 43, 'Terminbestätigung', '<p>Bestätigung</p>', 'Bestätigung',
   'neumann@example.org', 'Herr Neumann', 'info@example.org', 'Praxis Dr. Öz',
   'In_Warteschlange', now() - interval '1 hour', NULL, 1, now() - interval '1 hour', now());
SELECT setval('communication_service.emails_id_seq', 5);

INSERT INTO communication_service.telefonanrufe
  (id, therapist_id, patient_id, geplantes_datum, geplante_zeit, dauer_minuten, status,
   notizen, created_at, updated_at)
VALUES
  (1, 7, NULL, '2026-12-03', '10:30', 5, 'geplant', 'Rückruf zur Anfrage', '2026-11-02 09:10:00',
   NULL),
  (2, NULL, 41, '2026-12-04', '14:00', 10, 'geplant', NULL, '2026-11-02 09:12:00', NULL),
  (3, 8, NULL, '2026-10-28', '09:00', 5, 'abgeschlossen', 'erreicht', '2026-10-27 16:00:00',
   '2026-10-28 09:06:00');
SELECT setval('communication_service.telefonanrufe_id_seq', 3);
