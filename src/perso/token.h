/*
 * token.h - the issuer's keys in a PKCS#11 token: the interface of
 * src/perso/token.c.
 *
 * Issuer and transport master keys live in a PKCS#11 token (SoftHSM2 by
 * default, a hardware HSM in production) and never leave it in clear. This
 * module loads any PKCS#11 module with dlopen() + C_GetFunctionList(),
 * opens one token by its label, logs in as the user, and then:
 *
 *   - creates keys in the token (AES-128/192/256, 2- and 3-key triple DES):
 *     sensitive, never extractable;
 *   - imports keys from the caller's bytes (a transport key shipped by a
 *     fab, a test key): sensitive, never extractable once in the token;
 *   - lists them: label, type, role, key check value computed in the token
 *     (KCV: the first 3 bytes of AES-ECB or 3DES-ECB of a zero block);
 *   - diversifies a card key from a master key and a chip serial inside
 *     the token (C_DeriveKey, CKM_AES_ECB_ENCRYPT_DATA or
 *     CKM_DES3_ECB_ENCRYPT_DATA over derivation data made from the serial,
 *     docs/perso.md) and hands it out only wrapped under an AES wrapping
 *     key of the token (C_WrapKey, CKM_AES_KEY_WRAP, RFC 3394);
 *   - derives a chip's 8-byte transport code from the transport master key
 *     and the serial the same way (the one value that leaves in clear: it
 *     is presented to the chip; the caller wipes it).
 *
 * Roles. A key is made for one role: a MASTER key derives (CKA_DERIVE
 * only: it cannot encrypt, decrypt, wrap or sign anything), a WRAP key
 * wraps derived keys out of the token (CKA_WRAP, CKA_UNWRAP, CKA_ENCRYPT
 * for its check value). Both are CKA_SENSITIVE, CKA_EXTRACTABLE false.
 *
 * Errors: every function returns a perso_status_t; the token keeps a
 * message for the last error (perso_token_error()) naming the label or
 * what was expected and the PKCS#11 return value. No message, no output of
 * this module ever holds a key, a PIN or a transport code.
 *
 * Ownership: the caller owns every buffer it passes; PINs and key bytes
 * passed in are not kept (the caller wipes its copies). Not thread-safe:
 * one perso_token_t a thread. A process opens one perso_token_t a module
 * at a time: closing one finalizes the module (C_Finalize), and PKCS#11
 * logs in the whole process, not a handle.
 */
#ifndef CARDFAB_PERSO_TOKEN_H
#define CARDFAB_PERSO_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors */

typedef enum {
	PERSO_OK = 0,
	PERSO_ERR_PARAM, /* a NULL pointer, a bad length or name */
	PERSO_ERR_NOMEM,
	PERSO_ERR_IO,	     /* a file could not be read or written */
	PERSO_ERR_MODULE,    /* the PKCS#11 module could not be loaded */
	PERSO_ERR_NO_TOKEN,  /* no token of that label */
	PERSO_ERR_PIN,	     /* wrong, locked or missing PIN */
	PERSO_ERR_NOT_FOUND, /* no key of that label */
	PERSO_ERR_EXISTS,    /* a key of that label exists already */
	PERSO_ERR_KEY_TYPE,  /* a key of the wrong type or role */
	PERSO_ERR_MECHANISM, /* the token lacks a mechanism we need */
	PERSO_ERR_TOKEN,     /* any other PKCS#11 failure */
	PERSO_ERR_FORMAT,    /* bad input: hex, key length, CSV... */
	PERSO_ERR_CARD,	     /* the card refused a command or is not in
			      * the state the step needs */
} perso_status_t;

const char *perso_strerror(perso_status_t st);

/* ---------------------------------------------------------------- keys */

typedef enum {
	PERSO_KEY_AES128 = 1,
	PERSO_KEY_AES192,
	PERSO_KEY_AES256,
	PERSO_KEY_3DES2, /* two-key triple DES, 16 bytes */
	PERSO_KEY_3DES3, /* three-key triple DES, 24 bytes */
} perso_key_type_t;

/* "aes128", "3des2"...; NULL for a value out of range. */
const char *perso_key_type_name(perso_key_type_t t);
/* The type of that name, 0 if none. */
perso_key_type_t perso_key_type_parse(const char *name);
/* Its length in bytes (16, 24 or 32); 0 for a value out of range. */
size_t perso_key_type_len(perso_key_type_t t);

typedef enum {
	PERSO_ROLE_MASTER = 1, /* derives card keys and transport codes */
	PERSO_ROLE_WRAP,       /* wraps derived keys out of the token */
	PERSO_ROLE_BATCH,      /* encrypts and decrypts a batch's secrets;
				* never wraps or unwraps (docs/perso.md) */
	PERSO_ROLE_OTHER,      /* a key cardfab did not make */
} perso_key_role_t;

const char *perso_key_role_name(perso_key_role_t r);

#define PERSO_LABEL_MAX 64 /* bytes of a key label, without the NUL */

typedef struct {
	char label[PERSO_LABEL_MAX + 1];
	perso_key_type_t type; /* 0: a type cardfab does not use */
	perso_key_role_t role;
	int sensitive, extractable; /* CKA_SENSITIVE, CKA_EXTRACTABLE */
	int has_kcv;
	uint8_t kcv[3]; /* computed in the token */
} perso_key_info_t;

/* ---------------------------------------------------------------- token */

/* Default module: Debian's SoftHSM2. */
#define PERSO_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define PERSO_DEFAULT_TOKEN "cardfab"

typedef struct perso_token perso_token_t;

/*
 * Initialize a token (C_InitToken on the first slot whose token is not
 * initialized, SoftHSM2's free slot), then set its user PIN. The module
 * sees SOFTHSM2_CONF as the process's environment holds it.
 * err (may be NULL) receives a message on failure.
 */
perso_status_t perso_token_init(const char *module, const char *label,
				const char *so_pin, const char *user_pin,
				char *err, size_t errcap);

/*
 * Load module (NULL: PERSO_DEFAULT_MODULE), find the token labelled label
 * (NULL: PERSO_DEFAULT_TOKEN), open a read-write session and log in with
 * pin. *out is the caller's to close. On failure *out is NULL and err
 * (may be NULL) says why.
 */
perso_status_t perso_token_open(const char *module, const char *label,
				const char *pin, perso_token_t **out, char *err,
				size_t errcap);

/*
 * Another session of the token t is logged in to, for another thread
 * (PKCS#11 logs in an application, not a session, and C_Initialize is
 * once a process). Close it with perso_token_close() before t; it closes
 * only its session. t's error says why on failure.
 */
perso_status_t perso_token_session(perso_token_t *t, perso_token_t **out);

/* Log out, close, finalize, unload. NULL is fine. */
void perso_token_close(perso_token_t *t);

/* The message of the last failure on t ("" if none). */
const char *perso_token_error(const perso_token_t *t);

/* Generate a key in the token. PERSO_ERR_EXISTS if the label is taken. */
perso_status_t perso_key_create(perso_token_t *t, const char *label,
				perso_key_type_t type, perso_key_role_t role);

/*
 * Import a key of the caller's into the token (C_CreateObject), sensitive
 * and not extractable. len must be the type's length. The caller wipes
 * value afterwards.
 */
perso_status_t perso_key_import(perso_token_t *t, const char *label,
				perso_key_type_t type, perso_key_role_t role,
				const uint8_t *value, size_t len);

/* The keys of the token (secret key objects), in the token's order.
 * *out is the caller's to free(). */
perso_status_t perso_key_list(perso_token_t *t, perso_key_info_t **out,
			      size_t *n);

/* The key check value of one key, computed in the token. */
perso_status_t perso_key_kcv(perso_token_t *t, const char *label,
			     uint8_t kcv[3]);

/* Remove a key from the token. */
perso_status_t perso_key_delete(perso_token_t *t, const char *label);

#define PERSO_SERIAL_LEN 8 /* a chip serial */
/* A wrapped card key: RFC 3394 adds 8 bytes to the key. */
#define PERSO_WRAPPED_MAX (32 + 8)

/*
 * Diversify a card key of type card_type from master key master and the
 * chip serial inside the token, and return it wrapped under the AES key
 * wrap_label (RFC 3394 AES key wrap; out gets len(key) + 8 bytes, at most
 * PERSO_WRAPPED_MAX). An AES master gives AES card keys, a triple DES
 * master triple DES card keys (PERSO_ERR_KEY_TYPE otherwise). The derived
 * key exists in the token only for the time of the call.
 */
perso_status_t perso_key_derive_wrapped(perso_token_t *t, const char *master,
					const uint8_t serial[PERSO_SERIAL_LEN],
					perso_key_type_t card_type,
					const char *wrap_label, uint8_t *out,
					size_t cap, size_t *len);

/*
 * The clear value of a wrapped card key, for the one APDU that carries it
 * to the card (PUT DATA DF02 in INITIALIZATION, docs/perso.md): the
 * wrapped bytes are unwrapped in the token under wrap_label into a
 * session object, its value read into out (the type's length) and the
 * object destroyed in the same call. The caller wipes out as soon as the
 * APDU is sent.
 */
perso_status_t perso_key_unwrap_clear(perso_token_t *t, const char *wrap_label,
				      const uint8_t *wrapped, size_t wlen,
				      perso_key_type_t card_type, uint8_t *out,
				      size_t cap);

/*
 * The transport code of the chip of that serial: the first 8 bytes of the
 * first block of the same diversification under the transport master key
 * tmk. The caller wipes code after presenting it.
 */
perso_status_t perso_transport_code(perso_token_t *t, const char *tmk,
				    const uint8_t serial[PERSO_SERIAL_LEN],
				    uint8_t code[8]);

/*
 * The derivation data of a card key of len bytes from serial (docs/
 * perso.md): AES (block = 16), i = 1, 2: serial || i || 80 00 00 00 00 00 00;
 * triple DES (block = 8): serial, serial XOR FF.., serial XOR F0... Returns
 * its length (a whole number of blocks, at most 32), 0 on a bad argument.
 * Public so that tests and other tools can check the token independently.
 */
size_t perso_div_data(int aes, const uint8_t serial[PERSO_SERIAL_LEN],
		      size_t len, uint8_t out[32]);

#endif
