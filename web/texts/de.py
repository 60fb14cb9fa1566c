"""German texts of the operator pages (keys as in `en.py`)."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    # layout
    "nav_orders": "Bestellungen",
    "nav_imports": "Importe",
    "language": "Sprache",
    # order list
    "orders_title": "Bestellungen",
    "status": "Status",
    "portal": "Portal",
    "carrier": "Versender",
    "all": "alle",
    "created_from": "Angelegt von",
    "shipped_from": "Versendet von",
    "to": "bis",
    "search": "Suche",
    "search_hint": "Bestellnr., Käufer, E-Mail, Teil der Sendungsnummer",
    "filter": "Filtern",
    "reset": "zurücksetzen",
    "col_order": "Bestellung",
    "col_portal_order_id": "Portal-Bestellnr.",
    "col_buyer": "Käufer",
    "col_parcels": "Pakete",
    "col_mail": "Mail",
    "col_confirmations": "Rückmeldungen",
    "col_created": "Angelegt",
    "no_orders": "Keine Bestellung passt.",
    "newer": "← neuere",
    "older": "ältere →",
    "orders_range": "Bestellungen {first}–{last}",
    "own_shop": "eigener Shop",
    "buyer_email": "Käufer-E-Mail",
    "country": "Land",
    "mail_state": "Mail",
    "confirmation_state": "Rückmeldung",
    "found": "{count} Bestellungen gefunden",
    "export_csv": "Als CSV exportieren",
    "icons_title": "Paket-Symbole",
    "not_a_date": "{field}: {value!r} ist kein Datum (TT.MM.JJJJ); nicht berücksichtigt",
    # order page
    "order_title": "Bestellung {order_no}",
    "portal_order_id": "Portal-Bestellnr.",
    "buyer": "Käufer",
    "anonymised_on": "anonymisiert am {when} (Aufbewahrungsfrist abgelaufen)",
    "shipped": "Versendet",
    "arrived": "Angekommen",
    "items": "Artikel",
    "qty": "Menge",
    "sku": "Art.-Nr.",
    "title": "Bezeichnung",
    "item_id": "Positions-ID",
    "parcels": "Pakete",
    "tracking_number": "Sendungsnummer",
    "ship_date": "Versanddatum",
    "source": "Quelle",
    "daily_closing": "Tagesabschluss",
    "untracked": "ohne Sendungsnummer",
    "return_label": "Retoure:",
    "no_parcel": "Noch kein Paket.",
    "shipping_mail": "Versandmail",
    "to_recipient": "An",
    "message_id": "Message-ID",
    "carrier_run": "Versender-Lauf",
    "attempts": "Versuche",
    "reason": "Grund",
    "at": "Zeitpunkt",
    "no_mail": "Noch keine Versandmail.",
    "confirmations": "Rückmeldungen an Portale",
    "reference": "Referenz",
    "own_shop_none": "Eigener Shop: kein Portal zu benachrichtigen.",
    "no_portal_told": "Noch kein Portal benachrichtigt.",
    "protocol": "Protokoll",
    "flow_runs": "Flow-Läufe",
    "no_flow_runs": "Für diese Bestellung ist kein Flow-Lauf vermerkt.",
    # action buttons (web/order_actions.py)
    "actions": "Aktionen",
    "action_deliver": "Versandmail jetzt senden",
    "action_again": "noch einmal senden (der Käufer bekommt eine zweite Mail)",
    "action_resend": "Versandmail erneut senden",
    "action_retry": "Bestätigung wiederholen",
    "action_retry_portal": "Bestätigung bei {portal} wiederholen",
    "action_rejected_too": "auch abgelehnte (inzwischen behoben)",
    "action_arrived": "Als angekommen markieren",
    "result_sent": "Versandmail gesendet.",
    "result_already_sent": (
        "Die Versandmail ist schon raus; für eine zweite Mail „noch einmal senden“ ankreuzen."
    ),
    "result_failed": (
        "hat nicht geklappt; die Tabellen oben sagen warum. Ursache beheben, dann noch einmal."
    ),
    "result_suppressed": "Die Versandmail ist für dieses Konto abgeschaltet.",
    "result_in_other_run": "Ein Liefern-Lauf sendet diese Mail gerade.",
    "result_waiting": (
        "Die Versandmail wartet auf den Mailserver; sie geht mit dem nächsten Lauf raus."
    ),
    "result_not_mailed": "Noch keine Versandmail; bitte zuerst senden.",
    "result_no_parcel": "Noch kein Paket; bitte zuerst eines erfassen.",
    "result_cancelled": "Die Bestellung ist storniert; nichts gesendet.",
    "result_retried": "Bestätigung wiederholt.",
    "result_nothing_to_retry": "Keine fehlgeschlagene Bestätigung (abgelehnte nur mit Häkchen).",
    "result_arrived": "Bestellung als angekommen markiert.",
    "result_already_arrived": "Die Bestellung war schon als angekommen markiert.",
    "result_unknown": "Keine solche Bestellung.",
    "action_release": "Bestätigung freigeben",
    "action_release_portal": "Zurückgehaltene Bestätigung bei {portal} freigeben",
    "release_reason": "Grund",
    "action_correct": "Sendungsnummer korrigieren",
    "action_remove": "Paket entfernen",
    "correct_title": "Korrigieren",
    "new_number": "Neue Nummer",
    "result_released": "Zurückgehaltene Bestätigung freigegeben; der nächste Lauf bestätigt sie.",
    "result_nothing_held": "Für diese Bestellung ist nichts zurückgehalten.",
    "result_reason_missing": "Bitte einen Grund angeben.",
    "result_corrected": "Sendungsnummer korrigiert; Portale und Käufer informiert.",
    "result_corrected_by_hand": (
        "Sendungsnummer korrigiert; bitte auch im Portal von Hand ändern (siehe Protokoll)."
    ),
    "result_already_corrected": "Die neue Nummer ist schon eingetragen.",
    "result_number_taken": "Diese Nummer gehört schon zu einem Paket einer anderen Bestellung.",
    "result_removed": "Paket entfernt.",
    "result_already_removed": "Das Paket ist schon entfernt.",
    "result_told_already": (
        "Ein Portal kennt diese Nummer schon: dort von Hand entfernen oder korrigieren."
    ),
    "bulk_title": "Ausgewählte Bestellungen:",
    "bulk_resend": "Mails erneut senden",
    "bulk_retry": "Bestätigungen wiederholen",
    "bulk_arrived": "Als angekommen markieren",
    "bulk_all_title": "Alle Bestellungen:",
    "bulk_resend_failed": "Alle fehlgeschlagenen Mails erneut senden",
    "bulk_result": "{action}: {done} erledigt, {not_done} nicht erledigt.",
    "select_order": "Bestellung {order_no} auswählen",
    # tracking entry
    "add_parcels": "Pakete erfassen",
    "add_parcels_hint": "Eine Zeile je Paket; leere Zeilen werden übergangen.",
    "add_button": "Pakete hinzufügen",
    "untracked_title": "Ohne Sendungsnummer versendet",
    "untracked_hint": "Ein Brief oder Paket, das ohne Sendungsnummer verschickt wurde.",
    "untracked_button": "Als versendet ohne Sendungsnummer markieren",
    "choose_carrier": "bitte wählen…",
    "added": "{count} Paket(e) hinzugefügt.",
    "already_known": "{count} Paket(e) waren bereits an dieser Bestellung.",
    "fix_rows": "Einige Zeilen wurden nicht übernommen; siehe die markierten Felder.",
    "form_expired": "Das Formular war zu lange geöffnet. Bitte senden Sie es noch einmal.",
    "order_closed": "Diese Bestellung ist storniert; es kann kein Paket erfasst werden.",
    # field errors
    "err_carrier_missing": "Bitte den Versender dieses Pakets wählen.",
    "err_unknown_carrier": "Unbekannter Versender {value!r}.",
    "err_number_missing": "Bitte die Sendungsnummer eingeben (oder „ohne Sendungsnummer“ nutzen).",
    "err_empty": "Bitte die Sendungsnummer eingeben.",
    "err_scientific_notation": "Die Nummer sieht aus wie 1,23E+15 aus einer Tabelle; "
    "bitte als Text kopieren.",
    "err_leading_zeros_lost": "Führende Nullen fehlen wohl; bitte die Nummer wie auf dem "
    "Etikett eingeben.",
    "err_bad_characters": "Die Nummer enthält Zeichen, die es bei {carrier} nicht gibt.",
    "err_bad_format": "Keine gültige Sendungsnummer dieses Versenders: Länge oder Aufbau passen "
    "nicht; bitte mit dem Etikett vergleichen.",
    "err_bad_check_digit": "Die Prüfziffer stimmt nicht: ein Tippfehler? Bitte mit dem "
    "Etikett vergleichen.",
    "err_tracking_on_other_order": "Diese Sendungsnummer gehört bereits zu einer anderen "
    "Bestellung.",
    "err_bad_date": "Kein Datum; bitte die Datumsauswahl nutzen.",
    "err_ship_date_in_future": "Das Datum liegt in der Zukunft; ein Paket wird erst nach "
    "der Übergabe erfasst.",
    "err_ship_date_too_old": "Das Datum liegt vor dem {earliest}, dem ältesten zulässigen "
    "Versanddatum.",
    # protocol entries
    "bounce": "Unzustellbar",
    "ev_bounce": "Versandmail unzustellbar ({kind}): {reply}",
    "ev_imported": "Bestellung importiert",
    "ev_parcel_added": "Paket {carrier} {number} erfasst ({via})",
    "ev_via_import": "Import {id}",
    "ev_parcel_closed": "Paket {carrier} {number} im Tagesabschluss",
    "ev_shipped": "als versendet markiert",
    "ev_mail": "Versandmail {status}",
    "ev_correction_mail": "Korrekturmail {status}",
    "ev_delay_mail": "Verzögerungsmail {status}",
    "ev_mail_to": " an {recipient} (Message-ID {message_id})",
    "ev_confirmation": "Rückmeldung an {portal} {status}",
    "ev_for": " für {number}",
    "ev_for_untracked": " für das {carrier}-Paket ohne Sendungsnummer",
    "ev_ref": " (Ref. {reference})",
    "ev_release": "Rückmeldung an {portal} freigegeben von {by}: {reason}",
    "ev_arrived": "Käufer hat den Empfang bestätigt ({source})",
    "ev_anonymised": "Käuferdaten anonymisiert (Aufbewahrungsfrist abgelaufen)",
    # delivery status (track-parcels, carrier pushes)
    "delivery_status": "Zustellstatus",
    "delivery_events": "Sendungsverlauf",
    "carrier_says": "Meldung des Versanddienstleisters",
    "expected": "erwartet",
    "ds_announced": "angekündigt",
    "ds_in_transit": "unterwegs",
    "ds_out_for_delivery": "in Zustellung",
    "ds_delivered": "zugestellt",
    "ds_exception": "Problem",
    "ds_undeliverable": "unzustellbar",
    "ds_lost": "verloren",
    "ds_returned": "zurück beim Absender",
    "ev_arrived_carrier": "Versanddienstleister meldet alle Pakete zugestellt ({source})",
    "ev_arrived_amazon": "Amazon meldet alle Pakete zugestellt ({source})",
    # Upload-Formular auf /imports
    "upload_title": "Tracking-Datei hochladen",
    "upload_file": "CSV-Datei",
    "upload_format": "Format",
    "upload_format_auto": "am Kopf erkennen",
    "upload_carrier_from_file": "aus der Datei",
    "upload_send": "Datei hochladen und importieren",
    "upload_hint": "Dieselbe Datei zweimal wird einmal importiert.",
    "upload_refused": "Diese Datei kann nicht importiert werden: {detail}",
    "upload_too_large": "Die Datei ist größer als die Grenze von {limit} Bytes; bitte teilen.",
    "import_running": "Der Import läuft noch; die Seite lädt sich selbst neu.",
    "reload": "Neu laden",
    # imports
    "imports_title": "Tracking-Importe",
    "col_import": "Import",
    "col_started": "Begonnen",
    "col_file": "Datei",
    "col_rows": "Zeilen",
    "col_imported": "Importiert",
    "col_already_known": "Schon bekannt",
    "col_rejected": "Abgelehnt",
    "no_imports": "Noch keine Importe.",
    "import_title": "Tracking-Import {id}",
    "file": "Datei",
    "format": "Format",
    "started": "Begonnen",
    "finished": "Beendet",
    "rows": "Zeilen",
    "import_counts": "{rows} Zeilen · {imported} importiert · {known} schon bekannt · "
    "{rejected} abgelehnt",
    "flow_run": "Flow-Lauf",
    "rejected_rows": "Abgelehnte Zeilen",
    "rejected_first": "Die ersten {shown} von {total} abgelehnten Zeilen; alle:",
    "col_row": "Zeile",
    "col_column": "Spalte",
    "col_value": "Wert",
    "col_code": "Code",
    "col_why": "Warum",
    "no_rejected": "Keine Zeile wurde abgelehnt.",
    # the imports pages, an order's flow runs and protocol
    "run_import": "Tracking-Import {value}",
    "run_mail": "Versandmail",
    "run_confirmation": "{value}-Bestätigung",
    "ev_action": "{action} von {by}: {detail}",
    "upload_not_text": (
        "Diese Datei ist keine Textdatei (CSV): bitte eine CSV-Datei senden (UTF-8 oder "
        "Windows-1252)."
    ),
    "upload_not_tracking": (
        "Diese Datei ist keine Sendungsnummern-Datei: in der ersten Zeile fehlen die Spalten für "
        "Bestellnummer und Sendungsnummer, oder der Kopf passt zu mehreren Versender-Exporten; "
        "bitte das Format (und ohne Versender-Spalte den Versender) wählen. Details: {detail}"
    ),
    "upload_unknown_carrier": "Unbekannter Versender: {detail}",
    "upload_unknown_format": "Unbekanntes Format: {detail}",
    "upload_busy": (
        "Dieselbe Datei wird gerade von einer anderen Anfrage angenommen; bitte in ein paar "
        "Minuten noch einmal senden (sie wird nicht doppelt importiert)."
    ),
    "upload_no_file": "Bitte eine Datei wählen.",
    "upload_bad_form": "Das Formular kam unvollständig an; bitte noch einmal senden.",
    # the problems list (/problems, core/watchlist.py)
    "nav_problems": "Probleme",
    "problems_title": "Probleme: Pakete, die einen Blick brauchen",
    "problems_rules": (
        "Beobachtet: kein Erstscan des Versanddienstleisters {hours} Std. nach der "
        "Versandmail, {days} Tage ohne Ereignis, Störungen laut Versanddienstleister, "
        "erwarteter Zustelltag überschritten. Zugestellte und zurückgesandte Pakete und "
        "vom Käufer bestätigte Aufträge stehen nicht hier."
    ),
    "problems_count": "Pakete auf der Liste: {count}",
    "problems_shown": "die ersten {shown} angezeigt",
    "problems_none": "Kein Paket braucht einen Blick.",
    "col_problem": "Problem",
    "col_since": "Seit",
    "col_last_status": "Letzter Status",
    "pr_no_first_scan": "kein Erstscan {hours} Std. nach der Mail",
    "pr_stalled": "seit {days} Tagen kein Ereignis",
    "pr_exception": "Versanddienstleister meldet eine Störung",
    "pr_overdue": "erwarteter Zustelltag überschritten",
}

LABELS: dict[str, dict[str, str]] = {
    "order_status": {
        "open": "offen",
        "shipped": "versendet",
        "arrived": "angekommen",
        "cancelled": "storniert",
    },
    "confirmation": {
        "pending": "ausstehend: noch nicht gemeldet",
        "submitted": "übermittelt: wartet auf das Ergebnis des Portals",
        "confirmed": "vom Portal bestätigt",
        "rejected": "vom Portal abgelehnt (Grund beim Darüberfahren)",
        "failed": "fehlgeschlagen: Wiederholungen aufgebraucht (Grund beim Darüberfahren)",
        "skipped": "laut Einstellung übersprungen (Grund beim Darüberfahren)",
        "held": "zurückgehalten: wartet auf die Versandmail (Grund beim Darüberfahren); "
        "„Freigeben“ auf der Bestellseite oder `liefern portals release` gibt sie frei",
    },
    "mail": {
        "none": "noch keine Mail",
        "pending": "ausstehend",
        "sent": "gesendet",
        "failed": "fehlgeschlagen",
        "suppressed": "unterdrückt",
    },
    "bounce": {
        "auth": "Absender nicht authentifiziert",
        "unknown_recipient": "Adresse unbekannt",
        "mailbox_full": "Postfach voll",
        "temporary": "vorübergehend abgelehnt",
        "policy": "von Spam- oder Richtlinienfilter abgelehnt",
        "other": "anderer Grund",
    },
    "bounce_advice": {
        "auth": "SPF/DKIM/DMARC der Absenderdomain korrigieren (`liefern check` sagt, was "
        "fehlt), dann erneut senden.",
        "unknown_recipient": "Die Adresse des Käufers gibt es nicht: die richtige Adresse beim "
        "Portal oder beim Käufer erfragen, dann erneut senden.",
        "mailbox_full": "Das Postfach des Käufers ist voll: in ein, zwei Tagen erneut senden.",
        "temporary": "Der empfangende Server bat um einen späteren Versuch: der nächste Lauf "
        "sendet erneut.",
        "policy": "Antwort des Servers lesen; Ruf des Relays und Inhalt der Mail prüfen.",
        "other": "Antwort des Servers lesen.",
    },
    "confirmation_filter": {
        "red": "rote Symbole: abgelehnt oder fehlgeschlagen",
        "pending": "ausstehend",
        "submitted": "übermittelt",
        "confirmed": "bestätigt",
        "rejected": "abgelehnt",
        "failed": "fehlgeschlagen",
        "skipped": "übersprungen",
        "held": "zurückgehalten",
    },
    "kind": {
        "imported": "importiert",
        "parcel": "Paket",
        "mail": "Mail",
        "confirmation": "Rückmeldung",
        "arrived": "angekommen",
        "closed": "Tagesabschluss",
        "shipped": "versendet",
        "release": "freigegeben",
        "action": "Aktion",
    },
    "import_status": {
        "queued": "wartet",
        "running": "läuft",
        "done": "fertig",
        "failed": "fehlgeschlagen",
    },
    "source": {
        "cli": "Kommandozeile",
        "import": "Datei-Import",
        "upload": "Hochgeladen",
        "api": "API",
        "web": "Bestellseite",
        "test": "Test",
    },
    "action": {
        "deliver": "Versandmail jetzt gesendet",
        "mail_resend": "Versandmail erneut gesendet",
        "confirmation_retry": "Bestätigung wiederholt",
        "tracking_correct": "Sendungsnummer korrigiert",
        "tracking_remove": "Paket entfernt",
        "arrived": "als angekommen markiert",
    },
    "rejected": {
        "order_missing": "Keine Bestellnummer in dieser Zeile.",
        "carrier_missing": (
            "Kein Versender in dieser Zeile; bitte eintragen oder beim Hochladen wählen."
        ),
        "carrier_unknown": "Unbekannter Versender.",
        "empty": "Keine Sendungsnummer in dieser Zeile.",
        "scientific_notation": (
            "Die Nummer sieht aus wie 1,23E+15 aus einer Tabelle; bitte als Text kopieren."
        ),
        "leading_zeros_lost": (
            "Führende Nullen fehlen wohl; bitte die Nummer wie auf dem Etikett eintragen."
        ),
        "bad_characters": "Die Nummer enthält Zeichen, die es bei diesem Versender nicht gibt.",
        "bad_format": (
            "Keine gültige Sendungsnummer dieses Versenders: Länge oder Aufbau passen nicht."
        ),
        "bad_check_digit": (
            "Die Prüfziffer stimmt nicht: ein Tippfehler? Bitte mit dem Etikett vergleichen."
        ),
        "bad_ship_date": "Kein Datum; bitte JJJJ-MM-TT oder TT.MM.JJJJ.",
        "ship_date_in_future": "Das Versanddatum liegt in der Zukunft.",
        "ship_date_too_old": (
            "Das Versanddatum ist älter als erlaubt (LIEFERN_SHIP_DATE_MAX_AGE_DAYS)."
        ),
        "order_not_found": "Keine Bestellung mit dieser Nummer.",
        "order_ambiguous": "Die Nummer passt zu mehreren Bestellungen.",
        "order_cancelled": "Die Bestellung ist storniert.",
        "tracking_on_other_order": (
            "Diese Sendungsnummer gehört bereits zu einer anderen Bestellung."
        ),
    },
}
