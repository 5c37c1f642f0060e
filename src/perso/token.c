/*
 * token.c - the issuer's keys in a PKCS#11 token (token.h says what and
 * why).
 *
 * How it works: the module is loaded with dlopen() and used only through
 * the function list C_GetFunctionList() returns, so any PKCS#11 module
 * works (SoftHSM2, a hardware HSM's). A token is found by its label among
 * the slots with a token present. Keys are found by CKA_LABEL among the
 * secret key objects; a label names one key (create and import refuse a
 * label already there).
 *
 * Key check values are computed in the token: a WRAP key encrypts a zero
 * block (C_Encrypt, ECB); a MASTER key, which may not encrypt, derives a
 * short-lived generic secret from a zero block by the same ECB-encrypt-data
 * mechanism as card keys and reads its first 3 bytes. Card keys are
 * derived into session objects (sensitive, extractable only by wrapping),
 * wrapped, and destroyed on every path.
 *
 * Secrets: PINs and key bytes pass through this file but are never put in
 * a message; local copies are wiped with OPENSSL_cleanse() on every path.
 */
#define _POSIX_C_SOURCE 200809L

#include "perso/token.h"
#include "perso/perso_int.h"
#include "perso/prep.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <p11-kit/pkcs11.h>

struct perso_token {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	int initialized, open, logged_in;
	int shared; /* a session of another handle's module and login */
	/* Keys found by label, and their types: SoftHSM2's file store
	 * reads every object file of the token for a C_FindObjects, which
	 * was most of a card's token time (docs/perso.md). */
	struct {
		char label[PERSO_LABEL_MAX + 1];
		CK_OBJECT_HANDLE h;
		CK_KEY_TYPE ckk;
		int has_ckk;
	} cache[16];
	unsigned ncache, next_slot;
	char err[320];
};

/* ---------------------------------------------------------------- names */

const char *perso_strerror(perso_status_t st)
{
	switch (st) {
	case PERSO_OK:
		return "success";
	case PERSO_ERR_PARAM:
		return "bad parameter";
	case PERSO_ERR_NOMEM:
		return "out of memory";
	case PERSO_ERR_IO:
		return "input/output error";
	case PERSO_ERR_MODULE:
		return "PKCS#11 module could not be loaded";
	case PERSO_ERR_NO_TOKEN:
		return "no such token";
	case PERSO_ERR_PIN:
		return "wrong or locked PIN";
	case PERSO_ERR_NOT_FOUND:
		return "no such key";
	case PERSO_ERR_EXISTS:
		return "a key of that label exists";
	case PERSO_ERR_KEY_TYPE:
		return "wrong key type or role";
	case PERSO_ERR_MECHANISM:
		return "mechanism not supported by the token";
	case PERSO_ERR_TOKEN:
		return "PKCS#11 error";
	case PERSO_ERR_FORMAT:
		return "bad input format";
	case PERSO_ERR_CARD:
		return "the card refused a step";
	}
	return "unknown error";
}

static const struct {
	const char *name;
	size_t len;
	CK_KEY_TYPE ckk;
	CK_MECHANISM_TYPE gen;
} types[] = {
	[PERSO_KEY_AES128] = { "aes128", 16, CKK_AES, CKM_AES_KEY_GEN },
	[PERSO_KEY_AES192] = { "aes192", 24, CKK_AES, CKM_AES_KEY_GEN },
	[PERSO_KEY_AES256] = { "aes256", 32, CKK_AES, CKM_AES_KEY_GEN },
	[PERSO_KEY_3DES2] = { "3des2", 16, CKK_DES2, CKM_DES2_KEY_GEN },
	[PERSO_KEY_3DES3] = { "3des3", 24, CKK_DES3, CKM_DES3_KEY_GEN },
};

static int type_ok(perso_key_type_t t)
{
	return t >= PERSO_KEY_AES128 && t <= PERSO_KEY_3DES3;
}

static int type_aes(perso_key_type_t t)
{
	return t >= PERSO_KEY_AES128 && t <= PERSO_KEY_AES256;
}

const char *perso_key_type_name(perso_key_type_t t)
{
	return type_ok(t) ? types[t].name : NULL;
}

perso_key_type_t perso_key_type_parse(const char *name)
{
	int t;

	if (name == NULL)
		return 0;
	for (t = PERSO_KEY_AES128; t <= PERSO_KEY_3DES3; t++)
		if (strcmp(types[t].name, name) == 0)
			return (perso_key_type_t)t;
	return 0;
}

size_t perso_key_type_len(perso_key_type_t t)
{
	return type_ok(t) ? types[t].len : 0;
}

const char *perso_key_role_name(perso_key_role_t r)
{
	switch (r) {
	case PERSO_ROLE_MASTER:
		return "master";
	case PERSO_ROLE_WRAP:
		return "wrap";
	case PERSO_ROLE_BATCH:
		return "batch";
	case PERSO_ROLE_OTHER:
		return "other";
	}
	return "?";
}

/* ---------------------------------------------------------------- errors */

static perso_status_t tok_fail(perso_token_t *t, perso_status_t st,
			       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof t->err, fmt, ap);
	va_end(ap);
	return st;
}

/* The name of a PKCS#11 return value, for messages. */
static const char *ckr_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return "CKR_OK";
	case CKR_ARGUMENTS_BAD:
		return "CKR_ARGUMENTS_BAD";
	case CKR_ATTRIBUTE_SENSITIVE:
		return "CKR_ATTRIBUTE_SENSITIVE";
	case CKR_ATTRIBUTE_TYPE_INVALID:
		return "CKR_ATTRIBUTE_TYPE_INVALID";
	case CKR_ATTRIBUTE_VALUE_INVALID:
		return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_DEVICE_ERROR:
		return "CKR_DEVICE_ERROR";
	case CKR_FUNCTION_FAILED:
		return "CKR_FUNCTION_FAILED";
	case CKR_GENERAL_ERROR:
		return "CKR_GENERAL_ERROR";
	case CKR_HOST_MEMORY:
		return "CKR_HOST_MEMORY";
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return "CKR_KEY_FUNCTION_NOT_PERMITTED";
	case CKR_KEY_NOT_WRAPPABLE:
		return "CKR_KEY_NOT_WRAPPABLE";
	case CKR_KEY_SIZE_RANGE:
		return "CKR_KEY_SIZE_RANGE";
	case CKR_KEY_TYPE_INCONSISTENT:
		return "CKR_KEY_TYPE_INCONSISTENT";
	case CKR_KEY_UNEXTRACTABLE:
		return "CKR_KEY_UNEXTRACTABLE";
	case CKR_MECHANISM_INVALID:
		return "CKR_MECHANISM_INVALID";
	case CKR_MECHANISM_PARAM_INVALID:
		return "CKR_MECHANISM_PARAM_INVALID";
	case CKR_PIN_INCORRECT:
		return "CKR_PIN_INCORRECT";
	case CKR_PIN_LEN_RANGE:
		return "CKR_PIN_LEN_RANGE";
	case CKR_PIN_LOCKED:
		return "CKR_PIN_LOCKED";
	case CKR_SLOT_ID_INVALID:
		return "CKR_SLOT_ID_INVALID";
	case CKR_TEMPLATE_INCOMPLETE:
		return "CKR_TEMPLATE_INCOMPLETE";
	case CKR_TEMPLATE_INCONSISTENT:
		return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_TOKEN_NOT_PRESENT:
		return "CKR_TOKEN_NOT_PRESENT";
	case CKR_TOKEN_NOT_RECOGNIZED:
		return "CKR_TOKEN_NOT_RECOGNIZED";
	case CKR_USER_NOT_LOGGED_IN:
		return "CKR_USER_NOT_LOGGED_IN";
	case CKR_USER_PIN_NOT_INITIALIZED:
		return "CKR_USER_PIN_NOT_INITIALIZED";
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		return "CKR_CRYPTOKI_NOT_INITIALIZED";
	}
	return "CKR_?";
}

static perso_status_t rv_status(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return PERSO_OK;
	case CKR_HOST_MEMORY:
		return PERSO_ERR_NOMEM;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LOCKED:
	case CKR_PIN_LEN_RANGE:
	case CKR_USER_PIN_NOT_INITIALIZED:
		return PERSO_ERR_PIN;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
		return PERSO_ERR_MECHANISM;
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return PERSO_ERR_KEY_TYPE;
	}
	return PERSO_ERR_TOKEN;
}

/* ---------------------------------------------------------------- module */

/* A PKCS#11 label: 32 bytes padded with blanks. */
static void pad32(CK_UTF8CHAR out[32], const char *s)
{
	size_t n = strlen(s);

	memset(out, ' ', 32);
	memcpy(out, s, n > 32 ? 32 : n);
}

static int label_is(const CK_UTF8CHAR lab[32], const char *s)
{
	CK_UTF8CHAR want[32];

	pad32(want, s);
	return memcmp(lab, want, 32) == 0;
}

static perso_status_t load(perso_token_t *t, const char *module)
{
	CK_C_GetFunctionList gfl;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	void *sym;

	if (module == NULL || module[0] == '\0')
		module = PERSO_DEFAULT_MODULE;
	t->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (t->dl == NULL)
		return tok_fail(t, PERSO_ERR_MODULE,
				"PKCS#11 module %s: cannot load: %s", module,
				dlerror());
	sym = dlsym(t->dl, "C_GetFunctionList");
	if (sym == NULL)
		return tok_fail(
			t, PERSO_ERR_MODULE,
			"PKCS#11 module %s: no C_GetFunctionList: not a "
			"PKCS#11 module",
			module);
	/* POSIX: a data pointer from dlsym converts to a function pointer. */
	memcpy(&gfl, &sym, sizeof gfl);
	rv = gfl(&t->f);
	if (rv != CKR_OK || t->f == NULL)
		return tok_fail(t, PERSO_ERR_MODULE,
				"PKCS#11 module %s: C_GetFunctionList: %s",
				module, ckr_name(rv));
	memset(&args, 0, sizeof args);
	args.flags = CKF_OS_LOCKING_OK;
	rv = t->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return tok_fail(t, PERSO_ERR_MODULE,
				"PKCS#11 module %s: C_Initialize: %s (for "
				"SoftHSM2: is SOFTHSM2_CONF set to a readable "
				"config?)",
				module, ckr_name(rv));
	t->initialized = (rv == CKR_OK);
	return PERSO_OK;
}

/* The slots with a token present; *out is the caller's to free. */
static perso_status_t slots(perso_token_t *t, CK_BBOOL present,
			    CK_SLOT_ID **out, CK_ULONG *n)
{
	CK_RV rv;
	CK_SLOT_ID *v;

	*out = NULL;
	rv = t->f->C_GetSlotList(present, NULL, n);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv), "C_GetSlotList: %s",
				ckr_name(rv));
	v = calloc(*n + 1, sizeof *v);
	if (v == NULL)
		return tok_fail(t, PERSO_ERR_NOMEM, "out of memory");
	rv = t->f->C_GetSlotList(present, v, n);
	if (rv != CKR_OK) {
		free(v);
		return tok_fail(t, rv_status(rv), "C_GetSlotList: %s",
				ckr_name(rv));
	}
	*out = v;
	return PERSO_OK;
}

static void unload(perso_token_t *t)
{
	if (t->shared) {
		if (t->open)
			t->f->C_CloseSession(t->s);
		t->open = 0;
		t->f = NULL;
		return;
	}
	if (t->f != NULL) {
		if (t->logged_in)
			t->f->C_Logout(t->s);
		if (t->open)
			t->f->C_CloseSession(t->s);
		if (t->initialized)
			t->f->C_Finalize(NULL);
	}
	if (t->dl != NULL)
		dlclose(t->dl);
	t->dl = NULL;
	t->f = NULL;
	t->open = t->logged_in = t->initialized = 0;
}

perso_status_t perso_token_init(const char *module, const char *label,
				const char *so_pin, const char *user_pin,
				char *err, size_t errcap)
{
	perso_token_t t;
	perso_status_t st;
	CK_SLOT_ID *v = NULL, slot = 0;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];
	CK_RV rv;
	int found = 0;

	if (label == NULL)
		label = PERSO_DEFAULT_TOKEN;
	if (so_pin == NULL || user_pin == NULL || strlen(label) > 32) {
		pc_err(err, errcap, PERSO_OK,
		       "token init: a label of at most 32 "
		       "characters, an SO PIN and a user PIN "
		       "are needed");
		return PERSO_ERR_PARAM;
	}
	memset(&t, 0, sizeof t);
	st = load(&t, module);
	if (st == PERSO_OK)
		st = slots(&t, CK_TRUE, &v, &n);
	for (i = 0; st == PERSO_OK && i < n; i++) {
		rv = t.f->C_GetTokenInfo(v[i], &ti);
		if (rv != CKR_OK)
			continue;
		if ((ti.flags & CKF_TOKEN_INITIALIZED) &&
		    label_is(ti.label, label)) {
			st = tok_fail(&t, PERSO_ERR_EXISTS,
				      "token '%s' exists already", label);
			break;
		}
		if (!found && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			slot = v[i];
			found = 1;
		}
	}
	if (st == PERSO_OK && !found)
		st = tok_fail(&t, PERSO_ERR_NO_TOKEN,
			      "no free slot to initialize a token in");
	if (st == PERSO_OK) {
		pad32(lab, label);
		rv = t.f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin,
				      strlen(so_pin), lab);
		if (rv != CKR_OK)
			st = tok_fail(&t, rv_status(rv),
				      "token '%s': C_InitToken: %s", label,
				      ckr_name(rv));
	}
	/* The token moves to a new slot id in SoftHSM2: find it again. */
	free(v);
	v = NULL;
	if (st == PERSO_OK)
		st = slots(&t, CK_TRUE, &v, &n);
	found = 0;
	for (i = 0; st == PERSO_OK && i < n && !found; i++) {
		if (t.f->C_GetTokenInfo(v[i], &ti) == CKR_OK &&
		    (ti.flags & CKF_TOKEN_INITIALIZED) &&
		    label_is(ti.label, label)) {
			slot = v[i];
			found = 1;
		}
	}
	if (st == PERSO_OK && !found)
		st = tok_fail(&t, PERSO_ERR_NO_TOKEN,
			      "token '%s' vanished after C_InitToken", label);
	if (st == PERSO_OK) {
		rv = t.f->C_OpenSession(slot,
					CKF_SERIAL_SESSION | CKF_RW_SESSION,
					NULL, NULL, &t.s);
		if (rv == CKR_OK)
			t.open = 1;
		else
			st = tok_fail(&t, rv_status(rv), "C_OpenSession: %s",
				      ckr_name(rv));
	}
	if (st == PERSO_OK) {
		rv = t.f->C_Login(t.s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin,
				  strlen(so_pin));
		if (rv == CKR_OK)
			t.logged_in = 1;
		else
			st = tok_fail(&t, rv_status(rv),
				      "token '%s': SO login: %s", label,
				      ckr_name(rv));
	}
	if (st == PERSO_OK) {
		rv = t.f->C_InitPIN(t.s, (CK_UTF8CHAR_PTR)user_pin,
				    strlen(user_pin));
		if (rv != CKR_OK)
			st = tok_fail(&t, rv_status(rv),
				      "token '%s': C_InitPIN: %s", label,
				      ckr_name(rv));
	}
	free(v);
	if (st != PERSO_OK)
		pc_err(err, errcap, PERSO_OK, "%s", t.err);
	unload(&t);
	return st;
}

static perso_status_t token_open(const char *module, const char *label,
				 const char *pin, perso_token_t **out,
				 char *err, size_t errcap);

/*
 * SoftHSM2 rewrites a token's file in place at every login: a process
 * opening the token at that instant finds no token of that label. So "no
 * token" is asked again for a short while before it is believed.
 */
perso_status_t perso_token_open(const char *module, const char *label,
				const char *pin, perso_token_t **out, char *err,
				size_t errcap)
{
	struct timespec ts;
	perso_status_t st;
	unsigned i;

	for (i = 0;; i++) {
		st = token_open(module, label, pin, out, err, errcap);
		if (st != PERSO_ERR_NO_TOKEN || i == 8)
			return st;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(20 + 10 * i) * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static perso_status_t token_open(const char *module, const char *label,
				 const char *pin, perso_token_t **out,
				 char *err, size_t errcap)
{
	perso_token_t *t;
	perso_status_t st;
	CK_SLOT_ID *v = NULL, slot = 0;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int found = 0;

	if (out == NULL)
		return PERSO_ERR_PARAM;
	*out = NULL;
	if (label == NULL)
		label = PERSO_DEFAULT_TOKEN;
	if (pin == NULL) {
		pc_err(err, errcap, PERSO_OK, "token '%s': no user PIN given",
		       label);
		return PERSO_ERR_PIN;
	}
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return PERSO_ERR_NOMEM;
	pc_softhsm_guard(module ? module : PERSO_DEFAULT_MODULE, 0);
	st = load(t, module);
	if (st == PERSO_OK)
		st = slots(t, CK_TRUE, &v, &n);
	for (i = 0; st == PERSO_OK && i < n && !found; i++) {
		if (t->f->C_GetTokenInfo(v[i], &ti) == CKR_OK &&
		    (ti.flags & CKF_TOKEN_INITIALIZED) &&
		    label_is(ti.label, label)) {
			slot = v[i];
			found = 1;
		}
	}
	free(v);
	if (st == PERSO_OK && !found)
		st = tok_fail(t, PERSO_ERR_NO_TOKEN,
			      "no token labelled '%s' (for SoftHSM2: run "
			      "'cardfab keys init', and check SOFTHSM2_CONF)",
			      label);
	if (st == PERSO_OK) {
		rv = t->f->C_OpenSession(slot,
					 CKF_SERIAL_SESSION | CKF_RW_SESSION,
					 NULL, NULL, &t->s);
		if (rv == CKR_OK) {
			t->open = 1;
			t->slot = slot;
		} else {
			st = tok_fail(t, rv_status(rv),
				      "token '%s': C_OpenSession: %s", label,
				      ckr_name(rv));
		}
	}
	if (st == PERSO_OK) {
		rv = t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
				   strlen(pin));
		/* PKCS#11 logs in an application, not a session: another
		 * handle of this process may have logged in already (then
		 * the PIN is not checked again, and logging out is left to
		 * that handle). */
		if (rv == CKR_OK)
			t->logged_in = 1;
		else if (rv != CKR_USER_ALREADY_LOGGED_IN)
			st = tok_fail(t, rv_status(rv),
				      "token '%s': login refused: %s", label,
				      ckr_name(rv));
	}
	if (st != PERSO_OK) {
		pc_err(err, errcap, PERSO_OK, "%s", t->err);
		perso_token_close(t);
		return st;
	}
	if (t->logged_in)
		pc_softhsm_guard(module ? module : PERSO_DEFAULT_MODULE, 1);
	*out = t;
	return PERSO_OK;
}

void perso_token_close(perso_token_t *t)
{
	if (t == NULL)
		return;
	unload(t);
	free(t);
}

perso_status_t perso_token_session(perso_token_t *t, perso_token_t **out)
{
	perso_token_t *n;
	CK_RV rv;

	if (t == NULL || out == NULL || !t->open)
		return PERSO_ERR_PARAM;
	*out = NULL;
	n = calloc(1, sizeof *n);
	if (n == NULL)
		return PERSO_ERR_NOMEM;
	n->f = t->f;
	n->slot = t->slot;
	n->shared = 1;
	rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				 NULL, NULL, &n->s);
	if (rv != CKR_OK) {
		tok_fail(t, rv_status(rv), "C_OpenSession: %s", ckr_name(rv));
		free(n);
		return rv_status(rv);
	}
	n->open = 1;
	*out = n;
	return PERSO_OK;
}

const char *perso_token_error(const perso_token_t *t)
{
	return t != NULL ? t->err : "";
}

/* ---------------------------------------------------------------- objects */

static perso_status_t check_label(perso_token_t *t, const char *label)
{
	if (label == NULL || label[0] == '\0' ||
	    strlen(label) > PERSO_LABEL_MAX)
		return tok_fail(t, PERSO_ERR_PARAM,
				"a key label of 1 to %d bytes expected",
				PERSO_LABEL_MAX);
	return PERSO_OK;
}

/* The secret key of that label; PERSO_ERR_NOT_FOUND if none. */
static void cache_forget(perso_token_t *t)
{
	t->ncache = t->next_slot = 0;
}

static perso_status_t find_key_fresh(perso_token_t *t, const char *label,
				     CK_OBJECT_HANDLE *h);

/* The key of that label, from this handle's cache when it was found
 * before (a key deleted or replaced by another process since is seen as
 * an error of the operation, naming the key; a new session sees it). */
static perso_status_t find_key(perso_token_t *t, const char *label,
			       CK_OBJECT_HANDLE *h)
{
	unsigned i;
	perso_status_t st;

	for (i = 0; i < t->ncache; i++)
		if (strcmp(t->cache[i].label, label) == 0) {
			*h = t->cache[i].h;
			return PERSO_OK;
		}
	st = find_key_fresh(t, label, h);
	if (st == PERSO_OK && strlen(label) <= PERSO_LABEL_MAX) {
		i = t->next_slot;
		t->next_slot = (t->next_slot + 1) % 16;
		if (t->ncache < 16)
			t->ncache++;
		strcpy(t->cache[i].label, label);
		t->cache[i].h = *h;
		t->cache[i].has_ckk = 0;
	}
	return st;
}

static perso_status_t find_key_fresh(perso_token_t *t, const char *label,
				     CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ULONG n = 0;
	CK_RV rv;
	perso_status_t st;

	st = check_label(t, label);
	if (st != PERSO_OK)
		return st;
	rv = t->f->C_FindObjectsInit(t->s, tmpl, 2);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv),
				"key '%s': C_FindObjectsInit: %s", label,
				ckr_name(rv));
	rv = t->f->C_FindObjects(t->s, h, 1, &n);
	t->f->C_FindObjectsFinal(t->s);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv), "key '%s': C_FindObjects: %s",
				label, ckr_name(rv));
	if (n == 0)
		return tok_fail(t, PERSO_ERR_NOT_FOUND,
				"no key labelled '%s' in "
				"the token",
				label);
	return PERSO_OK;
}

static perso_status_t label_free(perso_token_t *t, const char *label)
{
	CK_OBJECT_HANDLE h;
	perso_status_t st = find_key_fresh(t, label, &h);

	if (st == PERSO_OK)
		return tok_fail(t, PERSO_ERR_EXISTS,
				"a key labelled '%s' exists already", label);
	return st == PERSO_ERR_NOT_FOUND ? PERSO_OK : st;
}

/* The attribute template of a new token key of a role; returns its count.
 * The arrays t, f (CK_TRUE, CK_FALSE), cls, ckk and len live in the
 * caller. */
typedef struct {
	CK_BBOOL yes, no;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE ckk;
	CK_ULONG len;
	CK_ATTRIBUTE a[16];
} tmpl_t;

static CK_ULONG key_template(tmpl_t *x, const char *label,
			     perso_key_type_t type, perso_key_role_t role,
			     int with_len)
{
	CK_ULONG n = 0;
	int wrap = (role == PERSO_ROLE_WRAP);
	int batch = (role == PERSO_ROLE_BATCH);
	int master = (role == PERSO_ROLE_MASTER);

	x->yes = CK_TRUE;
	x->no = CK_FALSE;
	x->cls = CKO_SECRET_KEY;
	x->ckk = types[type].ckk;
	x->len = types[type].len;
#define A(t, p, l)                            \
	do {                                  \
		x->a[n].type = (t);           \
		x->a[n].pValue = (void *)(p); \
		x->a[n].ulValueLen = (l);     \
		n++;                          \
	} while (0)
	A(CKA_CLASS, &x->cls, sizeof x->cls);
	A(CKA_KEY_TYPE, &x->ckk, sizeof x->ckk);
	A(CKA_LABEL, label, strlen(label));
	A(CKA_TOKEN, &x->yes, sizeof x->yes);
	A(CKA_PRIVATE, &x->yes, sizeof x->yes);
	A(CKA_SENSITIVE, &x->yes, sizeof x->yes);
	A(CKA_EXTRACTABLE, &x->no, sizeof x->no);
	/* One role a key: a key that could both unwrap card keys and
	 * decrypt would hand out every wrapped card key in clear through
	 * C_Decrypt. */
	A(CKA_DERIVE, master ? &x->yes : &x->no, sizeof x->yes);
	A(CKA_WRAP, wrap ? &x->yes : &x->no, sizeof x->yes);
	A(CKA_UNWRAP, wrap ? &x->yes : &x->no, sizeof x->yes);
	A(CKA_ENCRYPT, wrap || batch ? &x->yes : &x->no, sizeof x->yes);
	A(CKA_DECRYPT, batch ? &x->yes : &x->no, sizeof x->no);
	A(CKA_SIGN, &x->no, sizeof x->no);
	A(CKA_VERIFY, &x->no, sizeof x->no);
	if (with_len && type_aes(type))
		A(CKA_VALUE_LEN, &x->len, sizeof x->len);
#undef A
	return n;
}

static perso_status_t check_new(perso_token_t *t, const char *label,
				perso_key_type_t type, perso_key_role_t role)
{
	perso_status_t st;

	if (t == NULL)
		return PERSO_ERR_PARAM;
	t->err[0] = '\0';
	st = check_label(t, label);
	if (st != PERSO_OK)
		return st;
	if (!type_ok(type))
		return tok_fail(
			t, PERSO_ERR_PARAM,
			"key '%s': type aes128, aes192, aes256, 3des2 or "
			"3des3 expected",
			label);
	if (role != PERSO_ROLE_MASTER && role != PERSO_ROLE_WRAP &&
	    role != PERSO_ROLE_BATCH)
		return tok_fail(t, PERSO_ERR_PARAM,
				"key '%s': role master, wrap or batch expected",
				label);
	if (role == PERSO_ROLE_WRAP && !type_aes(type))
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s': a wrapping key is AES", label);
	if (role == PERSO_ROLE_BATCH && !type_aes(type))
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s': a batch key is AES", label);
	return label_free(t, label);
}

perso_status_t perso_key_create(perso_token_t *t, const char *label,
				perso_key_type_t type, perso_key_role_t role)
{
	tmpl_t x;
	CK_ULONG n;
	CK_MECHANISM m = { 0, NULL, 0 };
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	perso_status_t st;

	st = check_new(t, label, type, role);
	if (st != PERSO_OK)
		return st;
	n = key_template(&x, label, type, role, 1);
	m.mechanism = types[type].gen;
	rv = t->f->C_GenerateKey(t->s, &m, x.a, n, &h);
	cache_forget(t);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv), "key '%s': C_GenerateKey: %s",
				label, ckr_name(rv));
	return PERSO_OK;
}

perso_status_t perso_key_import(perso_token_t *t, const char *label,
				perso_key_type_t type, perso_key_role_t role,
				const uint8_t *value, size_t len)
{
	tmpl_t x;
	CK_ULONG n;
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	perso_status_t st;

	st = check_new(t, label, type, role);
	if (st != PERSO_OK)
		return st;
	if (value == NULL || len != types[type].len)
		return tok_fail(t, PERSO_ERR_FORMAT,
				"key '%s': a %s key is %zu bytes, got %zu",
				label, types[type].name, types[type].len, len);
	n = key_template(&x, label, type, role, 0);
	x.a[n].type = CKA_VALUE;
	x.a[n].pValue = (void *)value;
	x.a[n].ulValueLen = len;
	n++;
	rv = t->f->C_CreateObject(t->s, x.a, n, &h);
	cache_forget(t);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv),
				"key '%s': C_CreateObject: %s", label,
				ckr_name(rv));
	return PERSO_OK;
}

perso_status_t perso_key_delete(perso_token_t *t, const char *label)
{
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	perso_status_t st;

	if (t == NULL)
		return PERSO_ERR_PARAM;
	t->err[0] = '\0';
	st = find_key(t, label, &h);
	if (st != PERSO_OK)
		return st;
	rv = t->f->C_DestroyObject(t->s, h);
	cache_forget(t);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv),
				"key '%s': C_DestroyObject: %s", label,
				ckr_name(rv));
	return PERSO_OK;
}

/* ---------------------------------------------------------------- derive */

size_t perso_div_data(int aes, const uint8_t serial[PERSO_SERIAL_LEN],
		      size_t len, uint8_t out[32])
{
	static const uint8_t des_mask[3] = { 0x00, 0xFF, 0xF0 };
	size_t i, j, blocks;

	if (serial == NULL || out == NULL)
		return 0;
	if (aes) {
		if (len != 16 && len != 24 && len != 32)
			return 0;
		blocks = (len + 15) / 16;
		for (i = 0; i < blocks; i++) {
			memcpy(out + 16 * i, serial, 8);
			out[16 * i + 8] = (uint8_t)(i + 1);
			out[16 * i + 9] = 0x80;
			memset(out + 16 * i + 10, 0, 6);
		}
		return blocks * 16;
	}
	if (len != 8 && len != 16 && len != 24)
		return 0;
	blocks = len / 8;
	for (i = 0; i < blocks; i++)
		for (j = 0; j < 8; j++)
			out[8 * i + j] = serial[j] ^ des_mask[i];
	return blocks * 8;
}

/* CKA_KEY_TYPE of a key; PERSO_ERR_TOKEN if unreadable. */
static perso_status_t key_type_of(perso_token_t *t, CK_OBJECT_HANDLE h,
				  const char *label, CK_KEY_TYPE *ckk)
{
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, ckk, sizeof *ckk };
	unsigned i;
	CK_RV rv;

	for (i = 0; i < t->ncache; i++)
		if (t->cache[i].h == h && t->cache[i].has_ckk) {
			*ckk = t->cache[i].ckk;
			return PERSO_OK;
		}
	rv = t->f->C_GetAttributeValue(t->s, h, &a, 1);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv), "key '%s': CKA_KEY_TYPE: %s",
				label, ckr_name(rv));
	for (i = 0; i < t->ncache; i++)
		if (t->cache[i].h == h) {
			t->cache[i].ckk = *ckk;
			t->cache[i].has_ckk = 1;
		}
	return PERSO_OK;
}

static int ckk_aes(CK_KEY_TYPE k)
{
	return k == CKK_AES;
}

static int ckk_des(CK_KEY_TYPE k)
{
	return k == CKK_DES2 || k == CKK_DES3;
}

/*
 * Derive a session key from base by ECB-encrypt-data of data: of key type
 * ckk and len bytes. extractable: readable in clear (CKA_SENSITIVE false,
 * for KCVs and transport codes, generic secrets); else sensitive and
 * extractable only by wrapping.
 */
static perso_status_t derive(perso_token_t *t, CK_OBJECT_HANDLE base,
			     CK_KEY_TYPE base_ckk, const char *label,
			     const uint8_t *data, size_t dlen, CK_KEY_TYPE ckk,
			     CK_ULONG len, int readable, CK_OBJECT_HANDLE *out)
{
	CK_KEY_DERIVATION_STRING_DATA p;
	CK_MECHANISM m;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &ckk, sizeof ckk },
		{ CKA_TOKEN, &no, sizeof no },
		{ CKA_PRIVATE, &yes, sizeof yes },
		{ CKA_SENSITIVE, readable ? &no : &yes, sizeof yes },
		{ CKA_EXTRACTABLE, &yes, sizeof yes },
		{ CKA_VALUE_LEN, &len, sizeof len },
	};
	CK_ULONG na = 7;
	CK_RV rv;

	/* DES key objects have a fixed length: no CKA_VALUE_LEN. */
	if (ckk_des(ckk))
		na = 6;
	p.pData = (CK_BYTE_PTR)data;
	p.ulLen = dlen;
	m.mechanism = ckk_aes(base_ckk) ? CKM_AES_ECB_ENCRYPT_DATA :
					  CKM_DES3_ECB_ENCRYPT_DATA;
	m.pParameter = &p;
	m.ulParameterLen = sizeof p;
	rv = t->f->C_DeriveKey(t->s, &m, base, a, na, out);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv), "key '%s': C_DeriveKey: %s",
				label, ckr_name(rv));
	return PERSO_OK;
}

/* Read the value of a readable derived key into buf (cap bytes), then
 * destroy it. */
static perso_status_t read_destroy(perso_token_t *t, CK_OBJECT_HANDLE h,
				   const char *label, uint8_t *buf, size_t cap)
{
	CK_ATTRIBUTE a = { CKA_VALUE, buf, cap };
	CK_RV rv = t->f->C_GetAttributeValue(t->s, h, &a, 1);

	t->f->C_DestroyObject(t->s, h);
	if (rv != CKR_OK || a.ulValueLen != cap) {
		OPENSSL_cleanse(buf, cap);
		return tok_fail(t, rv_status(rv),
				"key '%s': reading a derived value: %s", label,
				ckr_name(rv));
	}
	return PERSO_OK;
}

perso_status_t perso_transport_code(perso_token_t *t, const char *tmk,
				    const uint8_t serial[PERSO_SERIAL_LEN],
				    uint8_t code[8])
{
	CK_OBJECT_HANDLE base, h;
	CK_KEY_TYPE ckk;
	uint8_t data[32];
	size_t dlen;
	perso_status_t st;

	if (t == NULL || serial == NULL || code == NULL)
		return PERSO_ERR_PARAM;
	t->err[0] = '\0';
	st = find_key(t, tmk, &base);
	if (st == PERSO_OK)
		st = key_type_of(t, base, tmk, &ckk);
	if (st != PERSO_OK)
		return st;
	if (!ckk_aes(ckk) && !ckk_des(ckk))
		return tok_fail(
			t, PERSO_ERR_KEY_TYPE,
			"key '%s': an AES or triple DES master expected", tmk);
	/* The first block of the card key diversification. */
	dlen = perso_div_data(ckk_aes(ckk), serial, ckk_aes(ckk) ? 16 : 8,
			      data);
	st = derive(t, base, ckk, tmk, data, dlen, CKK_GENERIC_SECRET, 8, 1,
		    &h);
	if (st == PERSO_OK)
		st = read_destroy(t, h, tmk, code, 8);
	OPENSSL_cleanse(data, sizeof data);
	return st;
}

perso_status_t perso_key_derive_wrapped(perso_token_t *t, const char *master,
					const uint8_t serial[PERSO_SERIAL_LEN],
					perso_key_type_t card_type,
					const char *wrap_label, uint8_t *out,
					size_t cap, size_t *len)
{
	CK_OBJECT_HANDLE base, wrap, h;
	CK_KEY_TYPE ckk, wckk;
	CK_MECHANISM m = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_ULONG olen;
	CK_RV rv;
	uint8_t data[32];
	size_t dlen, klen;
	perso_status_t st;

	if (t == NULL || serial == NULL || out == NULL || len == NULL)
		return PERSO_ERR_PARAM;
	*len = 0;
	t->err[0] = '\0';
	if (!type_ok(card_type))
		return tok_fail(t, PERSO_ERR_PARAM, "bad card key type");
	klen = types[card_type].len;
	if (cap < klen + 8)
		return tok_fail(t, PERSO_ERR_PARAM,
				"wrapped key buffer of %zu bytes: %zu needed",
				cap, klen + 8);
	st = find_key(t, master, &base);
	if (st == PERSO_OK)
		st = key_type_of(t, base, master, &ckk);
	if (st == PERSO_OK)
		st = find_key(t, wrap_label, &wrap);
	if (st == PERSO_OK)
		st = key_type_of(t, wrap, wrap_label, &wckk);
	if (st != PERSO_OK)
		return st;
	if (ckk_aes(ckk) != type_aes(card_type) ||
	    (!ckk_aes(ckk) && !ckk_des(ckk)))
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s': a %s card key needs %s master",
				master, types[card_type].name,
				type_aes(card_type) ? "an AES" :
						      "a triple DES");
	if (!ckk_aes(wckk))
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s': a wrapping key is AES", wrap_label);
	dlen = perso_div_data(ckk_aes(ckk), serial, klen, data);
	st = derive(t, base, ckk, master, data, dlen, types[card_type].ckk,
		    klen, 0, &h);
	OPENSSL_cleanse(data, sizeof data);
	if (st != PERSO_OK)
		return st;
	olen = cap;
	rv = t->f->C_WrapKey(t->s, &m, wrap, h, out, &olen);
	t->f->C_DestroyObject(t->s, h);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv),
				"key '%s' under '%s': C_WrapKey: %s", master,
				wrap_label, ckr_name(rv));
	*len = olen;
	return PERSO_OK;
}

perso_status_t perso_key_unwrap_clear(perso_token_t *t, const char *wrap_label,
				      const uint8_t *wrapped, size_t wlen,
				      perso_key_type_t card_type, uint8_t *out,
				      size_t cap)
{
	CK_OBJECT_HANDLE wrap, h;
	CK_KEY_TYPE wckk, ckk;
	CK_MECHANISM m = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE a[6];
	CK_RV rv;
	size_t klen;
	perso_status_t st;

	if (t == NULL || wrapped == NULL || out == NULL)
		return PERSO_ERR_PARAM;
	t->err[0] = '\0';
	if (!type_ok(card_type))
		return tok_fail(t, PERSO_ERR_PARAM, "bad card key type");
	klen = types[card_type].len;
	if (cap < klen || wlen != klen + 8)
		return tok_fail(t, PERSO_ERR_PARAM,
				"wrapped key of %zu bytes: %zu expected", wlen,
				klen + 8);
	st = find_key(t, wrap_label, &wrap);
	if (st == PERSO_OK)
		st = key_type_of(t, wrap, wrap_label, &wckk);
	if (st != PERSO_OK)
		return st;
	if (!ckk_aes(wckk))
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s': a wrapping key is AES", wrap_label);
	ckk = types[card_type].ckk;
	a[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
	a[1] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &ckk, sizeof ckk };
	a[2] = (CK_ATTRIBUTE){ CKA_TOKEN, &no, sizeof no };
	a[3] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof yes };
	a[4] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &no, sizeof no };
	a[5] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &yes, sizeof yes };
	rv = t->f->C_UnwrapKey(t->s, &m, wrap, (CK_BYTE_PTR)wrapped, wlen, a, 6,
			       &h);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv),
				"key under '%s': C_UnwrapKey: %s", wrap_label,
				ckr_name(rv));
	return read_destroy(t, h, wrap_label, out, klen);
}

/* ---------------------------------------------------------------- list, KCV */

static perso_status_t kcv_of(perso_token_t *t, CK_OBJECT_HANDLE h,
			     const char *label, uint8_t kcv[3])
{
	CK_KEY_TYPE ckk;
	CK_BBOOL enc = CK_FALSE, der = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		{ CKA_ENCRYPT, &enc, sizeof enc },
		{ CKA_DERIVE, &der, sizeof der },
	};
	static const uint8_t zero[16];
	uint8_t buf[16];
	CK_ULONG blen = sizeof buf;
	CK_MECHANISM m = { 0, NULL, 0 };
	CK_OBJECT_HANDLE d;
	CK_RV rv;
	size_t bs;
	perso_status_t st;

	st = key_type_of(t, h, label, &ckk);
	if (st != PERSO_OK)
		return st;
	if (!ckk_aes(ckk) && !ckk_des(ckk))
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s': no check value for this key type",
				label);
	bs = ckk_aes(ckk) ? 16 : 8;
	t->f->C_GetAttributeValue(t->s, h, a, 2);
	if (enc) {
		m.mechanism = ckk_aes(ckk) ? CKM_AES_ECB : CKM_DES3_ECB;
		rv = t->f->C_EncryptInit(t->s, &m, h);
		if (rv == CKR_OK)
			rv = t->f->C_Encrypt(t->s, (CK_BYTE_PTR)zero, bs, buf,
					     &blen);
		if (rv != CKR_OK)
			return tok_fail(t, rv_status(rv), "key '%s': KCV: %s",
					label, ckr_name(rv));
	} else if (der) {
		st = derive(t, h, ckk, label, zero, bs, CKK_GENERIC_SECRET, bs,
			    1, &d);
		if (st == PERSO_OK)
			st = read_destroy(t, d, label, buf, bs);
		if (st != PERSO_OK)
			return st;
	} else {
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s': may neither encrypt nor derive: no "
				"check value",
				label);
	}
	memcpy(kcv, buf, 3);
	OPENSSL_cleanse(buf, sizeof buf);
	return PERSO_OK;
}

perso_status_t perso_key_kcv(perso_token_t *t, const char *label,
			     uint8_t kcv[3])
{
	CK_OBJECT_HANDLE h;
	perso_status_t st;

	if (t == NULL || kcv == NULL)
		return PERSO_ERR_PARAM;
	t->err[0] = '\0';
	st = find_key(t, label, &h);
	if (st != PERSO_OK)
		return st;
	return kcv_of(t, h, label, kcv);
}

static void info_of(perso_token_t *t, CK_OBJECT_HANDLE h, perso_key_info_t *k)
{
	CK_KEY_TYPE ckk = (CK_KEY_TYPE)-1;
	CK_ULONG vlen = 0;
	CK_BBOOL sens = CK_FALSE, ext = CK_FALSE, der = CK_FALSE,
		 wrap = CK_FALSE, dec = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		{ CKA_LABEL, k->label, PERSO_LABEL_MAX },
		{ CKA_KEY_TYPE, &ckk, sizeof ckk },
		{ CKA_VALUE_LEN, &vlen, sizeof vlen },
		{ CKA_SENSITIVE, &sens, sizeof sens },
		{ CKA_EXTRACTABLE, &ext, sizeof ext },
		{ CKA_DERIVE, &der, sizeof der },
		{ CKA_WRAP, &wrap, sizeof wrap },
		{ CKA_DECRYPT, &dec, sizeof dec },
	};
	size_t i;

	memset(k, 0, sizeof *k);
	/* Attributes one by one: a missing one spoils none of the others. */
	for (i = 0; i < sizeof a / sizeof a[0]; i++)
		if (t->f->C_GetAttributeValue(t->s, h, &a[i], 1) != CKR_OK)
			a[i].ulValueLen = 0;
	k->label[a[0].ulValueLen <= PERSO_LABEL_MAX ? a[0].ulValueLen : 0] =
		'\0';
	if (ckk == CKK_AES)
		k->type = vlen == 16 ? PERSO_KEY_AES128 :
			  vlen == 24 ? PERSO_KEY_AES192 :
			  vlen == 32 ? PERSO_KEY_AES256 :
				       0;
	else if (ckk == CKK_DES2)
		k->type = PERSO_KEY_3DES2;
	else if (ckk == CKK_DES3)
		k->type = PERSO_KEY_3DES3;
	k->sensitive = sens == CK_TRUE;
	k->extractable = ext == CK_TRUE;
	k->role = der && !wrap && !dec ? PERSO_ROLE_MASTER :
		  wrap && !der && !dec ? PERSO_ROLE_WRAP :
		  dec && !der && !wrap ? PERSO_ROLE_BATCH :
					 PERSO_ROLE_OTHER;
	if (k->type != 0 && kcv_of(t, h, k->label, k->kcv) == PERSO_OK)
		k->has_kcv = 1;
	t->err[0] = '\0';
}

perso_status_t perso_key_list(perso_token_t *t, perso_key_info_t **out,
			      size_t *n)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof cls };
	CK_OBJECT_HANDLE hs[64];
	CK_OBJECT_HANDLE *all = NULL, *grown;
	CK_ULONG got, total = 0, i;
	CK_RV rv;
	perso_key_info_t *v;

	if (t == NULL || out == NULL || n == NULL)
		return PERSO_ERR_PARAM;
	*out = NULL;
	*n = 0;
	t->err[0] = '\0';
	rv = t->f->C_FindObjectsInit(t->s, &tmpl, 1);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv), "C_FindObjectsInit: %s",
				ckr_name(rv));
	for (;;) {
		rv = t->f->C_FindObjects(t->s, hs, 64, &got);
		if (rv != CKR_OK || got == 0)
			break;
		grown = realloc(all, (total + got) * sizeof *all);
		if (grown == NULL) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		all = grown;
		memcpy(all + total, hs, got * sizeof *hs);
		total += got;
	}
	t->f->C_FindObjectsFinal(t->s);
	if (rv != CKR_OK) {
		free(all);
		return tok_fail(t, rv_status(rv), "C_FindObjects: %s",
				ckr_name(rv));
	}
	v = calloc(total + 1, sizeof *v);
	if (v == NULL) {
		free(all);
		return tok_fail(t, PERSO_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < total; i++)
		info_of(t, all[i], &v[i]);
	free(all);
	*out = v;
	*n = total;
	return PERSO_OK;
}

/* ---------------------------------------------------------------- batch
 * secrets (prep.h) */

perso_status_t perso_random(perso_token_t *t, uint8_t *out, size_t n)
{
	CK_RV rv;

	if (t == NULL || out == NULL)
		return PERSO_ERR_PARAM;
	rv = t->f->C_GenerateRandom(t->s, out, n);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv), "C_GenerateRandom: %s",
				ckr_name(rv));
	return PERSO_OK;
}

/* The batch key of that label (AES) and the AES-GCM mechanism for the IV
 * iv (12 bytes) and the additional data: what encryption and decryption
 * of a batch's secrets share. */
static perso_status_t gcm_setup(perso_token_t *t, const char *key_label,
				const uint8_t *iv, const uint8_t *aad,
				size_t aad_len, CK_GCM_PARAMS *gp,
				CK_MECHANISM *m, CK_OBJECT_HANDLE *h)
{
	CK_KEY_TYPE ckk;
	perso_status_t st;

	st = find_key(t, key_label, h);
	if (st == PERSO_OK)
		st = key_type_of(t, *h, key_label, &ckk);
	if (st != PERSO_OK)
		return st;
	if (!ckk_aes(ckk))
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s': a batch key is AES", key_label);
	memset(gp, 0, sizeof *gp);
	gp->pIv = (CK_BYTE_PTR)iv;
	gp->ulIvLen = 12;
	gp->ulIvBits = 96;
	gp->pAAD = (CK_BYTE_PTR)aad;
	gp->ulAADLen = aad_len;
	gp->ulTagBits = 128;
	m->mechanism = CKM_AES_GCM;
	m->pParameter = gp;
	m->ulParameterLen = sizeof *gp;
	return PERSO_OK;
}

perso_status_t perso_encrypt(perso_token_t *t, const char *key_label,
			     const uint8_t *aad, size_t aad_len,
			     const uint8_t *in, size_t len, uint8_t *out,
			     size_t cap, size_t *out_len)
{
	CK_OBJECT_HANDLE h;
	CK_GCM_PARAMS gp;
	CK_MECHANISM m;
	CK_ULONG olen;
	CK_RV rv;
	perso_status_t st;

	if (t == NULL || in == NULL || out == NULL || out_len == NULL)
		return PERSO_ERR_PARAM;
	*out_len = 0;
	t->err[0] = '\0';
	if (cap < len + PERSO_GCM_OVERHEAD)
		return tok_fail(t, PERSO_ERR_PARAM,
				"encryption buffer too small");
	st = perso_random(t, out, 12);
	if (st == PERSO_OK)
		st = gcm_setup(t, key_label, out, aad, aad_len, &gp, &m, &h);
	if (st != PERSO_OK)
		return st;
	olen = cap - 12;
	rv = t->f->C_EncryptInit(t->s, &m, h);
	if (rv == CKR_OK)
		rv = t->f->C_Encrypt(t->s, (CK_BYTE_PTR)in, len, out + 12,
				     &olen);
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv),
				"key '%s': AES-GCM encryption: %s", key_label,
				ckr_name(rv));
	*out_len = 12 + olen;
	return PERSO_OK;
}

perso_status_t perso_decrypt(perso_token_t *t, const char *key_label,
			     const uint8_t *aad, size_t aad_len,
			     const uint8_t *in, size_t len, uint8_t *out,
			     size_t cap, size_t *out_len)
{
	CK_OBJECT_HANDLE h;
	CK_GCM_PARAMS gp;
	CK_MECHANISM m;
	CK_ULONG olen;
	CK_RV rv;
	perso_status_t st;

	if (t == NULL || in == NULL || out == NULL || out_len == NULL)
		return PERSO_ERR_PARAM;
	*out_len = 0;
	t->err[0] = '\0';
	if (len < PERSO_GCM_OVERHEAD)
		return tok_fail(t, PERSO_ERR_FORMAT,
				"key '%s': an encrypted item is at least %d "
				"bytes, got %zu",
				key_label, PERSO_GCM_OVERHEAD, len);
	if (cap < len - PERSO_GCM_OVERHEAD)
		return tok_fail(t, PERSO_ERR_PARAM,
				"decryption buffer too small");
	st = gcm_setup(t, key_label, in, aad, aad_len, &gp, &m, &h);
	if (st != PERSO_OK)
		return st;
	/* SoftHSM2 asks for room for the tag too before it checks it. */
	olen = cap;
	rv = t->f->C_DecryptInit(t->s, &m, h);
	if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
		return tok_fail(t, PERSO_ERR_KEY_TYPE,
				"key '%s' may not decrypt: a batch key is made "
				"with 'cardfab keys create LABEL --batch'",
				key_label);
	if (rv == CKR_OK)
		rv = t->f->C_Decrypt(t->s, (CK_BYTE_PTR)in + 12, len - 12, out,
				     &olen);
	/* A tag that does not verify: SoftHSM2 2.6 says CKR_GENERAL_ERROR,
	 * the standard CKR_ENCRYPTED_DATA_INVALID. */
	if (rv == CKR_ENCRYPTED_DATA_INVALID ||
	    rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_GENERAL_ERROR)
		return tok_fail(t, PERSO_ERR_FORMAT,
				"key '%s': an encrypted item does not decrypt "
				"(another key, another record, or altered: %s)",
				key_label, ckr_name(rv));
	if (rv != CKR_OK)
		return tok_fail(t, rv_status(rv),
				"key '%s': AES-GCM decryption: %s", key_label,
				ckr_name(rv));
	*out_len = olen;
	return PERSO_OK;
}
