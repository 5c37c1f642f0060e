/*
 * face.h - the printed card face of one cardholder, as SVG.
 *
 * Personalization prints the card as well as writing the chip: the
 * profile's face section (docs/profiles.md) says what is printed where,
 * fixed texts and cardholder fields; this renders it for one holder as a
 * standalone SVG document, for the printer's driver and for a proof a
 * person can look at. It only returns text: writing it to a file (or
 * anywhere else) is the caller's business.
 *
 * The document (docs/perso.md, "Card face"): user units are millimetres;
 * front (the chip's side, with the ISO/IEC 7816-2 contacts) and back side
 * by side, each labelled, each an ID-1 outline with rounded corners of
 * the profile's width and height. Every item is drawn in its box; a text
 * too wide for its box is squeezed to fit (textLength). The output is
 * deterministic: the same profile and values give the same bytes, with no
 * date, locale or address in it.
 */
#ifndef CARDFAB_PERSO_FACE_H
#define CARDFAB_PERSO_FACE_H

#include <stddef.h>

#include "profile/profile.h"

/*
 * The card face of one holder as a standalone SVG document (UTF-8),
 * front and back side by side, in millimetres (viewBox), from the
 * profile's face: fixed texts, and field items filled from values[i]
 * (the text of profile field i, NULL or "" when empty; a field at or
 * past nvalues is empty). Dates are shown as given (YYYY-MM-DD). Values
 * are UTF-8: a byte that does not belong to a valid sequence, and a
 * character XML cannot carry (controls), is shown as U+FFFD; & < > " '
 * are escaped. serial (may be NULL) is printed small on the back as the
 * card serial. A secret field is never drawn even if a face item names
 * it (the profile checker refuses that anyway).
 *
 * Returns a malloc'd NUL-terminated string, the caller's to free(), or
 * NULL: out of memory, or a bad argument (p NULL, values NULL with
 * nvalues > 0, a face with a size or a box that is not a finite number).
 */
char *perso_face_svg(const profile_t *p, const char *const *values,
		     size_t nvalues, const char *serial);

#endif
