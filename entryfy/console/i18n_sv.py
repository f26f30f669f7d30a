"""The console's Swedish, as data: ``python -m entryfy.console.i18n_sv`` rewrites
``translations/sv/LC_MESSAGES/messages.po`` from the strings extracted by pybabel
(``babel.cfg``) and compiles the ``.mo`` beside it; both files are committed, so a plain
``pip install -e .`` in a fresh clone serves Swedish without a build step.
``tests/console/test_i18n.py`` fails when a console string has no Swedish or the committed
``.mo`` is stale."""

from __future__ import annotations

# Strings the code passes to gettext through a variable (roles, statuses, scopes, days, error
# titles); pybabel cannot find them, so they are listed here.
DYNAMIC = {
    "member": "medlem", "admin": "administratör", "operator": "operatör", "guest": "gäst",
    "hardware_manager": "hårdvaruansvarig", "foreman": "arbetsledare",
    "open": "öppen", "answered": "besvarad", "closed": "stängd",
    "pending": "att besluta", "approved": "godkänd", "completed": "genomförd",
    "members": "medlemmar", "sites": "arbetsplatser", "entries": "närvaro",
    "customer": "kund", "support": "support",
    "access": "registerutdrag", "rectification": "rättelse", "erasure": "radering",
    "restriction": "begränsning", "objection": "invändning", "portability": "dataportabilitet",
    "mon": "mån", "tue": "tis", "wed": "ons", "thu": "tor", "fri": "fre", "sat": "lör",
    "sun": "sön",
    "Bad request": "Felaktig begäran", "The request is not valid": "Uppgifterna är inte giltiga",
    "Not signed in": "Inte inloggad", "Forbidden": "Inte tillåtet", "Not found": "Hittades inte",
    "Conflict": "Konflikt", "Unprocessable": "Kan inte genomföras",
}

# A plural message is keyed by its (singular, plural) pair and translated as a pair.
SV: dict[str | tuple[str, str], str | tuple[str, str]] = {
    "Find by name or e-mail": "Sök på namn eller e-postadress",
    "Find": "Sök",
    "Show all": "Visa alla",
    "App": "App", "App + PIN": "App + PIN-kod", "QR code": "QR-kod",
    "QR code + PIN": "QR-kod + PIN-kod", "PIN": "PIN-kod", "Keycard": "Passerkort",
    "Guests invited, visits not yet ended": "Inbjudna gäster, besök som inte är slut",
    "No guests invited.": "Inga inbjudna gäster.",
    "Alerts": "Larm",
    "No open alerts.": "Inga öppna larm.",
    ("%(num)d refused attempt at the doors in the last 24 hours",
     "%(num)d refused attempts at the doors in the last 24 hours"):
        ("%(num)d nekat försök vid dörrarna det senaste dygnet",
         "%(num)d nekade försök vid dörrarna det senaste dygnet"),
    ("%(num)d door controller is offline", "%(num)d door controllers are offline"):
        ("%(num)d dörrcentral är nere", "%(num)d dörrcentraler är nere"),
    "since %(when)s": "sedan %(when)s",
    "Doors (of one site)": "Dörrar (på en arbetsplats)",
    "Valid (site time; leave empty for no limit)":
        "Giltig (arbetsplatsens tid; lämna tomt för ingen gräns)",
    "All accesses": "Alla behörigheter",
    "Access": "Behörighet",
    "The access has been saved.": "Behörigheten har sparats.",
    "The access has been removed.": "Behörigheten har tagits bort.",
    "Change the access": "Ändra behörigheten",
    "Remove the access": "Ta bort behörigheten",
    "Its %(n)d members can no longer open these doors by it:":
        "Dess %(n)d medlemmar kan inte längre öppna de här dörrarna med den:",
    "Past door events stay. This cannot be undone.":
        "Tidigare dörrhändelser finns kvar. Det går inte att ångra.",
    "Remove": "Ta bort",
    "Cancel": "Avbryt",
    "Valid": "Giltig",
    "no limit": "ingen gräns",
    "Edit": "Ändra",
    "Not a date and time.": "Inte ett datum och en tid.",
    "Choose doors and members from the lists.": "Välj dörrar och medlemmar i listorna.",
    "Required.": "Obligatoriskt.",
    "Give the visit's start and end.": "Ange besökets början och slut.",
    "Choose doors.": "Välj dörrar.",
    "A date, YYYY-MM-DD.": "Ett datum, ÅÅÅÅ-MM-DD.",
    "Give a reason.": "Ange ett skäl.",
    "Enter the code from your authenticator app.": "Ange koden från din autentiseringsapp.",
    "Wrong e-mail, password or code.": "Fel e-postadress, lösenord eller kod.",
    "Give a subject and a message.": "Ange ämne och meddelande.",
    "Next page": "Nästa sida",
    "No sites yet.": "Inga arbetsplatser ännu.",
    ("%(num)d person", "%(num)d people"): ("%(num)d person", "%(num)d personer"),
    "On site now": "På plats nu",
    "Name": "Namn",
    "Employer": "Arbetsgivare",
    "Checked in": "Incheckad",
    "(erased)": "(raderad)",
    "and %(num)d more": "och %(num)d till",
    "Accesses": "Behörigheter",
    "Who may open which doors, and when": "Vem som får öppna vilka dörrar, och när",
    "Doors": "Dörrar",
    "Members": "Medlemmar",
    "Schedule": "Schema",
    "Methods": "Sätt",
    "at any time": "när som helst",
    "Give an access": "Ge en behörighet",
    "Weekly schedule (site time; leave empty for any time)":
        "Veckoschema (arbetsplatsens tid; tomt för när som helst)",
    "Window": "Fönster",
    "From": "Från",
    "To": "Till",
    "Window %(n)d": "Fönster %(n)d",
    "Give access": "Ge behörighet",
    "Audit trail": "Granskningslogg",
    "Who read or changed your people's data, support staff included. The trail is "
    "hash-chained: a changed or removed record breaks the chain.":
        "Vem som läst eller ändrat uppgifter om era personer, supporten inräknad. Loggen är "
        "hashkedjad: en ändrad eller borttagen post bryter kedjan.",
    "Newest first": "Senaste först",
    "When": "När",
    "Who": "Vem",
    "Role": "Roll",
    "What": "Vad",
    "About": "Gäller",
    "Console": "Konsol",
    "Skip to content": "Hoppa till innehållet",
    "Language": "Språk",
    "Change": "Byt",
    "Sign out": "Logga ut",
    "Dashboard": "Översikt",
    "Sites and doors": "Arbetsplatser och dörrar",
    "Guests": "Gäster",
    "Entries": "Närvaro",
    "Personnel ledger": "Personalliggare",
    "Door events": "Dörrhändelser",
    "Privacy requests": "Integritetsförfrågningar",
    "Support": "Support",
    "Tickets": "Ärenden",
    "Choose a customer": "Välj kund",
    "You administer no customer.": "Du administrerar ingen kund.",
    "privacy requests to decide": "integritetsförfrågningar att besluta om",
    "open support tickets": "öppna supportärenden",
    "Door sign": "Dörrskylt",
    "Door sign for %(door)s": "Dörrskylt för %(door)s",
    "Print": "Skriv ut",
    "Download PDF": "Ladda ned PDF",
    "Download PNG": "Ladda ned PNG",
    "Download SVG": "Ladda ned SVG",
    "Back to the doors of %(site)s": "Tillbaka till dörrarna på %(site)s",
    "Door sign for %(door)s with its Entry and Exit QR codes":
        "Dörrskylt för %(door)s med QR-koderna för in och ut",
    "Doors of %(site)s": "Dörrar på %(site)s",
    "Site entrance": "Entré till arbetsplatsen",
    "yes": "ja",
    "no": "nej",
    "Print the sign for %(door)s": "Skriv ut skylten för %(door)s",
    "New door": "Ny dörr",
    "Latitude (optional)": "Latitud (valfri)",
    "Longitude (optional)": "Longitud (valfri)",
    "Radius (m, optional)": "Radie (m, valfri)",
    "Site entrance (passages check in and out)": "Entré (passager checkar in och ut)",
    "Create door": "Skapa dörr",
    "Site": "Arbetsplats",
    "All sites": "Alla arbetsplatser",
    "On site now only": "Endast de som är på plats nu",
    "Filter": "Filtrera",
    "Entries, newest first": "Närvaro, senaste först",
    "Checked out": "Utcheckad",
    "Corrected": "Rättad",
    "No entries.": "Ingen närvaro.",
    "Entry": "Närvaro",
    "Entry of %(name)s": "Närvaro för %(name)s",
    "The correction has been saved.": "Rättelsen är sparad.",
    "on site": "på plats",
    "Corrections (the original values stay readable)":
        "Rättelser (de ursprungliga värdena går fortfarande att läsa)",
    "Before": "Före",
    "After": "Efter",
    "Reason": "Skäl",
    "Correct this entry": "Rätta den här närvaron",
    "Checked in (%(tz)s)": "Incheckad (%(tz)s)",
    "Checked out (%(tz)s)": "Utcheckad (%(tz)s)",
    "Save correction": "Spara rättelse",
    "Back to the console": "Tillbaka till konsolen",
    "Outcome": "Utfall",
    "All": "Alla",
    "granted": "beviljad",
    "denied": "nekad",
    "Attempts at the doors, newest first": "Försök vid dörrarna, senaste först",
    "Door": "Dörr",
    "Method": "Sätt",
    "No events.": "Inga händelser.",
    "Invite a guest": "Bjud in en gäst",
    "The guest's PIN and QR code have been e-mailed.":
        "Gästens PIN-kod och QR-kod har skickats med e-post.",
    "E-mail": "E-post",
    "First name (used in the e-mail only)": "Förnamn (används bara i e-postmeddelandet)",
    "Invite guest": "Bjud in gäst",
    "The ledger of a site for a period, with identity numbers; every export is recorded in "
    "the audit trail.":
        "Arbetsplatsens personalliggare för en period, med personnummer; varje export "
        "registreras i granskningsloggen.",
    "To (inclusive)": "Till och med",
    "File for": "Fil för",
    "Excel (Swedish): semicolons, UTF-8 with BOM": "Excel (svenskt): semikolon, UTF-8 med BOM",
    "Standard CSV: commas, ISO times": "Standard-CSV: komman, ISO-tider",
    "Export CSV": "Exportera CSV",
    "Sign in": "Logga in",
    "Password": "Lösenord",
    "Code from your authenticator app (staff)": "Kod från din autentiseringsapp (personal)",
    "The invitation has been sent.": "Inbjudan har skickats.",
    "Invite a member": "Bjud in en medlem",
    "Employer (subcontractor)": "Arbetsgivare (underentreprenör)",
    "Employer's org. no.": "Arbetsgivarens org.nr",
    "Invite": "Bjud in",
    "Members and invitations": "Medlemmar och inbjudningar",
    "Status": "Status",
    "invited": "inbjuden",
    "active": "aktiv",
    "deactivated": "avaktiverad",
    "Save": "Spara",
    "To decide": "Att besluta",
    "Carried out": "Genomförda",
    "Denied": "Nekade",
    "Requests that concern your data": "Förfrågningar som gäller era uppgifter",
    "Person": "Person",
    "Type": "Typ",
    "Due": "Senast",
    "Decision": "Beslut",
    "Approve": "Godkänn",
    "Deny": "Neka",
    "Nothing here.": "Inget här.",
    "Sites": "Arbetsplatser",
    "Address": "Adress",
    "Position": "Position",
    "Radius (m)": "Radie (m)",
    "Ledger id": "Personalliggar-id",
    "New site": "Ny arbetsplats",
    "Latitude": "Latitud",
    "Longitude": "Longitud",
    "Geofence": "Geografiskt staket",
    "enforce: refuse check-ins outside": "tvinga: neka incheckning utanför",
    "record: accept, note the distance": "notera: godta, anteckna avståndet",
    "Personnel ledger id (Skatteverket)": "Personalliggarens id (Skatteverket)",
    "Time zone": "Tidszon",
    "Create site": "Skapa arbetsplats",
    "Granted view: %(scope)s": "Beviljad vy: %(scope)s",
    "The customer granted this for ticket “%(subject)s”. Every look is recorded in the "
    "customer's audit trail.":
        "Kunden har beviljat detta för ärendet ”%(subject)s”. Varje visning registreras i "
        "kundens granskningslogg.",
    "Back to the ticket": "Tillbaka till ärendet",
    "Support tickets": "Supportärenden",
    "Every customer's tickets, latest first": "Alla kunders ärenden, senaste först",
    "Customer": "Kund",
    "Subject": "Ämne",
    "Updated": "Uppdaterad",
    "(removed)": "(borttaget)",
    "No tickets.": "Inga ärenden.",
    "Ticket": "Ärende",
    "Answer": "Svar",
    "Send": "Skicka",
    "Access for support": "Åtkomst för supporten",
    "Grants for this ticket": "Åtkomst beviljad för det här ärendet",
    "Data": "Uppgifter",
    "Until": "Till",
    "Revoke": "Återkalla",
    "revoked": "återkallad",
    "Support may not read any of your data for this ticket.":
        "Supporten får inte läsa några av era uppgifter för det här ärendet.",
    "Granted: %(scope)s": "Beviljat: %(scope)s",
    "No live grant: the customer's data cannot be read for this ticket.":
        "Ingen gällande åtkomst: kundens uppgifter kan inte läsas för det här ärendet.",
    "Let support read": "Låt supporten läsa",
    "For how many hours": "Hur många timmar",
    "Grant": "Bevilja",
    "Close the ticket": "Stäng ärendet",
    "Your tickets": "Era ärenden",
    "Ask support": "Fråga supporten",
    "Message": "Meddelande",
}


def build(pot_path: str, out_dir: str) -> list[str]:
    """Write messages.po and messages.mo; return the msgids that have no Swedish."""
    import pathlib

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po, write_po

    with open(pot_path, "rb") as f:
        template = read_po(f)
    catalog = Catalog(locale="sv", domain="messages", project="Entryfy",
                      fuzzy=False, charset="utf-8")
    missing = []
    for msg in template:
        if not msg.id:
            continue
        sv = SV.get(msg.id if isinstance(msg.id, str) else (msg.id[0], msg.id[1]))
        if sv is None:
            missing.append(str(msg.id))
            continue
        catalog.add(msg.id, sv, locations=msg.locations)
    for en, sv in DYNAMIC.items():
        if en not in catalog:
            catalog.add(en, sv)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "messages.po", "wb") as f:
        write_po(f, catalog, width=100, omit_header=False, sort_output=True)
    with open(out / "messages.mo", "wb") as f:
        write_mo(f, catalog)
    return missing


if __name__ == "__main__":
    import pathlib
    import subprocess
    import sys
    import tempfile

    root = pathlib.Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        pot = f"{tmp}/messages.pot"
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",  # noqa: S603
                        str(root / "babel.cfg"), "-k", "_", "-k", "gettext",
                        "-k", "ngettext:1,2", "--no-location", "-o", pot, str(root)],
                       check=True, cwd=root)
        missing = build(pot, str(pathlib.Path(__file__).parent
                                 / "translations/sv/LC_MESSAGES"))
    if missing:
        sys.exit("no Swedish for: " + "; ".join(missing))
