/*
 * test_token.c - src/perso/token.c against a real SoftHSM2 token.
 *
 * The test makes its own token in its scratch directory (a softhsm2.conf
 * whose tokendir is ./tokens, SOFTHSM2_CONF pointing at it: the user's
 * global SoftHSM2 config is never read or written), then checks every
 * value the token computes against an independent computation with
 * OpenSSL from known keys imported for the test: key check values, card
 * keys diversified in the token and unwrapped here (RFC 3394) with a known
 * wrapping key, transport codes. It checks that master keys refuse to give
 * their value, and that errors (wrong PIN, no token, unknown label, bad
 * module) are clear and hold no secret.
 *
 * Exit 77 (skipped, loudly) only when the SoftHSM2 module is not installed.
 * It #includes token.c to reach the PKCS#11 function list and find_key().
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "perso/token.c"

#define SO_PIN "so-test-8642"
#define USER_PIN "user-test-9753"
#define TOKEN "cardfab-test"

/* Known keys: none of them may ever appear in a message. */
static const uint8_t k_aes_master[16] = { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae,
					  0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88,
					  0x09, 0xcf, 0x4f, 0x3c };
static const uint8_t k_des_master[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
					  0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98,
					  0x76, 0x54, 0x32, 0x10 };
static const uint8_t k_wrap[32] = {
	0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
	0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
	0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
};
static const uint8_t serial[8] = { 0x43, 0x46, 0x00, 0x01,
				   0x23, 0x45, 0x67, 0x89 };

static perso_token_t *tok;

/* ---------------------------------------------------------------- OpenSSL */

static void ecb(const EVP_CIPHER *c, const uint8_t *key, const uint8_t *in,
		size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	assert_non_null(x);
	assert_int_equal(EVP_EncryptInit_ex(x, c, NULL, key, NULL), 1);
	EVP_CIPHER_CTX_set_padding(x, 0);
	assert_int_equal(EVP_EncryptUpdate(x, out, &l1, in, (int)n), 1);
	assert_int_equal(EVP_EncryptFinal_ex(x, out + l1, &l2), 1);
	assert_int_equal((size_t)(l1 + l2), n);
	EVP_CIPHER_CTX_free(x);
}

/* RFC 3394 unwrap under the 256-bit k_wrap. Returns the key length. */
static size_t unwrap(const uint8_t *in, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	assert_non_null(x);
	EVP_CIPHER_CTX_set_flags(x, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	assert_int_equal(
		EVP_DecryptInit_ex(x, EVP_aes_256_wrap(), NULL, k_wrap, NULL),
		1);
	assert_int_equal(EVP_DecryptUpdate(x, out, &l1, in, (int)n), 1);
	assert_int_equal(EVP_DecryptFinal_ex(x, out + l1, &l2), 1);
	EVP_CIPHER_CTX_free(x);
	return (size_t)(l1 + l2);
}

/* The diversification, written here from docs/perso.md, not from the
 * library: AES blocks serial || i || 80 00.., DES blocks serial ^ mask. */
static void expect_div(int aes, size_t len, uint8_t *out)
{
	uint8_t d[32], e[32];
	size_t i, j, n;

	if (aes) {
		n = (len + 15) / 16 * 16;
		memset(d, 0, sizeof d);
		for (i = 0; i < n / 16; i++) {
			memcpy(d + 16 * i, serial, 8);
			d[16 * i + 8] = (uint8_t)(i + 1);
			d[16 * i + 9] = 0x80;
		}
		ecb(EVP_aes_128_ecb(), k_aes_master, d, n, e);
	} else {
		static const uint8_t m[3] = { 0x00, 0xFF, 0xF0 };
		n = len;
		for (i = 0; i < n / 8; i++)
			for (j = 0; j < 8; j++)
				d[8 * i + j] = serial[j] ^ m[i];
		ecb(EVP_des_ede_ecb(), k_des_master, d, n, e);
	}
	memcpy(out, e, len);
}

/* No known key, as hex (either case) or raw, in s. */
static void assert_no_secret(const char *s)
{
	const uint8_t *keys[] = { k_aes_master, k_des_master, k_wrap };
	size_t lens[] = { 16, 16, 32 };
	char hex[65], HEX[65];
	size_t i, j;

	assert_null(strstr(s, USER_PIN));
	assert_null(strstr(s, SO_PIN));
	for (i = 0; i < 3; i++) {
		for (j = 0; j < lens[i]; j++) {
			snprintf(hex + 2 * j, 3, "%02x", keys[i][j]);
			snprintf(HEX + 2 * j, 3, "%02X", keys[i][j]);
		}
		/* Any 6 bytes of a key in a row would be too many. */
		for (j = 0; j + 12 <= 2 * lens[i]; j += 2) {
			char a[13], b[13];
			memcpy(a, hex + j, 12);
			a[12] = '\0';
			memcpy(b, HEX + j, 12);
			b[12] = '\0';
			assert_null(strstr(s, a));
			assert_null(strstr(s, b));
		}
	}
}

/* ---------------------------------------------------------------- setup */

static int make_token(void)
{
	char cwd[4096], conf[4200];
	FILE *f;
	char err[400];
	perso_status_t st;

	if (access(PERSO_DEFAULT_MODULE, R_OK) != 0) {
		fprintf(stderr,
			"\n*** test_token SKIPPED: %s is missing: install "
			"softhsm2 (scripts/setup.sh does) ***\n\n",
			PERSO_DEFAULT_MODULE);
		exit(77);
	}
	if (getcwd(cwd, sizeof cwd) == NULL)
		return -1;
	/* A fresh token on every run, even outside ctest's scratch reset. */
	if (system("rm -rf ./tokens") != 0)
		return -1;
	if (mkdir("tokens", 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", cwd);
	f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"directories.tokendir = %s/tokens\n"
		"objectstore.backend = file\n"
		"log.level = ERROR\n"
		"slots.removable = false\n",
		cwd);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	st = perso_token_init(NULL, TOKEN, SO_PIN, USER_PIN, err, sizeof err);
	if (st != PERSO_OK) {
		fprintf(stderr, "token init: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	char err[400];

	(void)state;
	if (make_token() != 0)
		return -1;
	if (perso_token_open(NULL, TOKEN, USER_PIN, &tok, err, sizeof err) !=
	    PERSO_OK) {
		fprintf(stderr, "token open: %s\n", err);
		return -1;
	}
	if (perso_key_import(tok, "T-AES-MK", PERSO_KEY_AES128,
			     PERSO_ROLE_MASTER, k_aes_master, 16) != PERSO_OK ||
	    perso_key_import(tok, "T-DES-MK", PERSO_KEY_3DES2,
			     PERSO_ROLE_MASTER, k_des_master, 16) != PERSO_OK ||
	    perso_key_import(tok, "T-WRAP", PERSO_KEY_AES256, PERSO_ROLE_WRAP,
			     k_wrap, 32) != PERSO_OK) {
		fprintf(stderr, "import: %s\n", perso_token_error(tok));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	perso_token_close(tok);
	tok = NULL;
	return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(perso_key_type_parse("aes192"), PERSO_KEY_AES192);
	assert_int_equal(perso_key_type_parse("3des3"), PERSO_KEY_3DES3);
	assert_int_equal(perso_key_type_parse("des"), 0);
	assert_int_equal(perso_key_type_len(PERSO_KEY_AES256), 32);
	assert_string_equal(perso_key_type_name(PERSO_KEY_3DES2), "3des2");
	assert_null(perso_key_type_name(0));
	assert_string_equal(perso_strerror(PERSO_ERR_PIN),
			    "wrong or locked PIN");
}

static const perso_key_info_t *find_info(const perso_key_info_t *v, size_t n,
					 const char *label)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].label, label) == 0)
			return &v[i];
	return NULL;
}

static void test_list_kcv(void **state)
{
	static const uint8_t zero[16];
	uint8_t e[16], kcv[3];
	perso_key_info_t *v = NULL;
	const perso_key_info_t *k;
	size_t n = 0;

	(void)state;
	assert_int_equal(perso_key_list(tok, &v, &n), PERSO_OK);
	assert_true(n >= 3);

	k = find_info(v, n, "T-AES-MK");
	assert_non_null(k);
	assert_int_equal(k->type, PERSO_KEY_AES128);
	assert_int_equal(k->role, PERSO_ROLE_MASTER);
	assert_true(k->sensitive);
	assert_false(k->extractable);
	assert_true(k->has_kcv);
	ecb(EVP_aes_128_ecb(), k_aes_master, zero, 16, e);
	assert_memory_equal(k->kcv, e, 3);

	k = find_info(v, n, "T-DES-MK");
	assert_non_null(k);
	assert_int_equal(k->type, PERSO_KEY_3DES2);
	assert_true(k->has_kcv);
	ecb(EVP_des_ede_ecb(), k_des_master, zero, 8, e);
	assert_memory_equal(k->kcv, e, 3);

	k = find_info(v, n, "T-WRAP");
	assert_non_null(k);
	assert_int_equal(k->type, PERSO_KEY_AES256);
	assert_int_equal(k->role, PERSO_ROLE_WRAP);
	assert_true(k->has_kcv);
	ecb(EVP_aes_256_ecb(), k_wrap, zero, 16, e);
	assert_memory_equal(k->kcv, e, 3);
	free(v);

	assert_int_equal(perso_key_kcv(tok, "T-AES-MK", kcv), PERSO_OK);
	ecb(EVP_aes_128_ecb(), k_aes_master, zero, 16, e);
	assert_memory_equal(kcv, e, 3);
}

static void test_create(void **state)
{
	static const char *labels[] = { "G-AES128", "G-AES192", "G-AES256",
					"G-3DES2", "G-3DES3" };
	perso_key_info_t *v = NULL;
	const perso_key_info_t *k;
	size_t n = 0, i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(perso_key_create(tok, labels[i],
						  (perso_key_type_t)(i + 1),
						  PERSO_ROLE_MASTER),
				 PERSO_OK);
	assert_int_equal(perso_key_create(tok, "G-WRAP", PERSO_KEY_AES128,
					  PERSO_ROLE_WRAP),
			 PERSO_OK);
	assert_int_equal(perso_key_list(tok, &v, &n), PERSO_OK);
	for (i = 0; i < 5; i++) {
		k = find_info(v, n, labels[i]);
		assert_non_null(k);
		assert_int_equal(k->type, (perso_key_type_t)(i + 1));
		assert_true(k->has_kcv);
		assert_true(k->sensitive);
		assert_false(k->extractable);
	}
	free(v);
	/* A label names one key. */
	assert_int_equal(perso_key_create(tok, "G-AES128", PERSO_KEY_AES128,
					  PERSO_ROLE_MASTER),
			 PERSO_ERR_EXISTS);
	assert_non_null(strstr(perso_token_error(tok), "G-AES128"));
	/* A wrapping key is AES. */
	assert_int_equal(
		perso_key_create(tok, "G-W3", PERSO_KEY_3DES3, PERSO_ROLE_WRAP),
		PERSO_ERR_KEY_TYPE);
	assert_int_equal(perso_key_delete(tok, "G-3DES3"), PERSO_OK);
	assert_int_equal(perso_key_delete(tok, "G-3DES3"), PERSO_ERR_NOT_FOUND);
}

static void test_import_errors(void **state)
{
	uint8_t k[32] = { 0 };

	(void)state;
	assert_int_equal(perso_key_import(tok, "X", PERSO_KEY_AES256,
					  PERSO_ROLE_MASTER, k, 16),
			 PERSO_ERR_FORMAT);
	assert_int_equal(perso_key_import(tok, "T-AES-MK", PERSO_KEY_AES128,
					  PERSO_ROLE_MASTER, k_aes_master, 16),
			 PERSO_ERR_EXISTS);
	assert_no_secret(perso_token_error(tok));
	assert_int_equal(perso_key_import(tok, "", PERSO_KEY_AES128,
					  PERSO_ROLE_MASTER, k, 16),
			 PERSO_ERR_PARAM);
}

static void test_masters_hold_their_value(void **state)
{
	static const char *labels[] = { "T-AES-MK", "T-DES-MK", "T-WRAP",
					"G-AES256" };
	CK_OBJECT_HANDLE h;
	uint8_t buf[64];
	CK_ATTRIBUTE a = { CKA_VALUE, buf, sizeof buf };
	CK_RV rv;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_int_equal(find_key(tok, labels[i], &h), PERSO_OK);
		a.ulValueLen = sizeof buf;
		rv = tok->f->C_GetAttributeValue(tok->s, h, &a, 1);
		assert_int_equal(rv, CKR_ATTRIBUTE_SENSITIVE);
		assert_true(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
	}
	/* A master cannot wrap itself out, nor encrypt. */
	assert_int_equal(find_key(tok, "T-AES-MK", &h), PERSO_OK);
	{
		CK_OBJECT_HANDLE w;
		CK_MECHANISM m = { CKM_AES_KEY_WRAP, NULL, 0 };
		CK_ULONG n = sizeof buf;

		assert_int_equal(find_key(tok, "T-WRAP", &w), PERSO_OK);
		rv = tok->f->C_WrapKey(tok->s, &m, w, h, buf, &n);
		assert_int_not_equal(rv, CKR_OK);
		m.mechanism = CKM_AES_ECB;
		rv = tok->f->C_EncryptInit(tok->s, &m, h);
		assert_int_not_equal(rv, CKR_OK);
	}
}

static void check_derive(perso_key_type_t type)
{
	uint8_t w[PERSO_WRAPPED_MAX], k[48], e[32];
	size_t wl = 0, kl, len = perso_key_type_len(type);
	int aes = type <= PERSO_KEY_AES256;

	assert_int_equal(perso_key_derive_wrapped(
				 tok, aes ? "T-AES-MK" : "T-DES-MK", serial,
				 type, "T-WRAP", w, sizeof w, &wl),
			 PERSO_OK);
	assert_int_equal(wl, len + 8);
	kl = unwrap(w, wl, k);
	assert_int_equal(kl, len);
	expect_div(aes, len, e);
	if (!aes) {
		/* A DES key comes out of the token with odd parity (the low
		 * bit of each byte, which DES ignores): docs/perso.md. */
		size_t i;
		for (i = 0; i < len; i++) {
			uint8_t b = e[i] & 0xFE, p = 1, x;
			for (x = b; x; x >>= 1)
				p ^= x & 1;
			e[i] = b | p;
		}
	}
	assert_memory_equal(k, e, len);
}

static void test_derive_wrapped(void **state)
{
	uint8_t w[PERSO_WRAPPED_MAX], other[8];
	size_t wl;

	(void)state;
	check_derive(PERSO_KEY_AES128);
	check_derive(PERSO_KEY_AES192);
	check_derive(PERSO_KEY_AES256);
	check_derive(PERSO_KEY_3DES2);
	check_derive(PERSO_KEY_3DES3);

	/* Families do not mix; a master does not wrap; labels exist. */
	assert_int_equal(perso_key_derive_wrapped(tok, "T-AES-MK", serial,
						  PERSO_KEY_3DES2, "T-WRAP", w,
						  sizeof w, &wl),
			 PERSO_ERR_KEY_TYPE);
	assert_int_equal(perso_key_derive_wrapped(tok, "T-AES-MK", serial,
						  PERSO_KEY_AES128, "T-DES-MK",
						  w, sizeof w, &wl),
			 PERSO_ERR_KEY_TYPE);
	assert_int_equal(perso_key_derive_wrapped(tok, "NO-SUCH-MK", serial,
						  PERSO_KEY_AES128, "T-WRAP", w,
						  sizeof w, &wl),
			 PERSO_ERR_NOT_FOUND);
	assert_non_null(strstr(perso_token_error(tok), "NO-SUCH-MK"));
	assert_int_equal(perso_key_derive_wrapped(tok, "T-AES-MK", serial,
						  PERSO_KEY_AES256, "T-WRAP", w,
						  16, &wl),
			 PERSO_ERR_PARAM);
	/* Another serial, another key. */
	memcpy(other, serial, 8);
	other[7] ^= 1;
	{
		uint8_t w2[PERSO_WRAPPED_MAX];
		size_t wl2;

		assert_int_equal(
			perso_key_derive_wrapped(tok, "T-AES-MK", serial,
						 PERSO_KEY_AES128, "T-WRAP", w,
						 sizeof w, &wl),
			PERSO_OK);
		assert_int_equal(
			perso_key_derive_wrapped(tok, "T-AES-MK", other,
						 PERSO_KEY_AES128, "T-WRAP", w2,
						 sizeof w2, &wl2),
			PERSO_OK);
		assert_memory_not_equal(w, w2, wl);
	}
}

static void test_transport_code(void **state)
{
	uint8_t code[8], e[32];

	(void)state;
	assert_int_equal(perso_transport_code(tok, "T-AES-MK", serial, code),
			 PERSO_OK);
	expect_div(1, 16, e);
	assert_memory_equal(code, e, 8);
	assert_int_equal(perso_transport_code(tok, "T-DES-MK", serial, code),
			 PERSO_OK);
	expect_div(0, 8, e);
	assert_memory_equal(code, e, 8);
	assert_int_equal(perso_transport_code(tok, "NOPE", serial, code),
			 PERSO_ERR_NOT_FOUND);
}

/* A derived key leaves no object behind. */
static void test_no_leftover_objects(void **state)
{
	perso_key_info_t *v = NULL;
	size_t n0 = 0, n1 = 0;
	uint8_t w[PERSO_WRAPPED_MAX], code[8];
	size_t wl;

	(void)state;
	assert_int_equal(perso_key_list(tok, &v, &n0), PERSO_OK);
	free(v);
	assert_int_equal(perso_key_derive_wrapped(tok, "T-AES-MK", serial,
						  PERSO_KEY_AES128, "T-WRAP", w,
						  sizeof w, &wl),
			 PERSO_OK);
	assert_int_equal(perso_transport_code(tok, "T-AES-MK", serial, code),
			 PERSO_OK);
	assert_int_equal(perso_key_list(tok, &v, &n1), PERSO_OK);
	free(v);
	assert_int_equal(n0, n1);
}

static void test_open_errors(void **state)
{
	perso_token_t *t = NULL;
	char err[400];

	(void)state;
	/* PKCS#11 logs an application in, not a session: with tok still
	 * open, a second login would not check its PIN. */
	perso_token_close(tok);
	tok = NULL;
	err[0] = '\0';
	assert_int_equal(perso_token_open(NULL, TOKEN, "wrong-pin-000", &t, err,
					  sizeof err),
			 PERSO_ERR_PIN);
	assert_null(t);
	assert_non_null(strstr(err, "CKR_PIN_INCORRECT"));
	assert_null(strstr(err, "wrong-pin-000"));
	assert_no_secret(err);

	assert_int_equal(perso_token_open(NULL, "no-such-token", USER_PIN, &t,
					  err, sizeof err),
			 PERSO_ERR_NO_TOKEN);
	assert_null(t);
	assert_non_null(strstr(err, "no-such-token"));
	assert_no_secret(err);

	assert_int_equal(perso_token_open("/nonexistent/libp11.so", TOKEN,
					  USER_PIN, &t, err, sizeof err),
			 PERSO_ERR_MODULE);
	assert_non_null(strstr(err, "/nonexistent/libp11.so"));
	assert_no_secret(err);

	assert_int_equal(
		perso_token_open(NULL, TOKEN, NULL, &t, err, sizeof err),
		PERSO_ERR_PIN);

	/* A second token of the same label is refused. */
	assert_int_equal(perso_token_init(NULL, TOKEN, SO_PIN, USER_PIN, err,
					  sizeof err),
			 PERSO_ERR_EXISTS);
	assert_no_secret(err);
}

static void test_div_data(void **state)
{
	uint8_t d[32];

	(void)state;
	assert_int_equal(perso_div_data(1, serial, 16, d), 16);
	assert_int_equal(perso_div_data(1, serial, 24, d), 32);
	assert_int_equal(perso_div_data(1, serial, 32, d), 32);
	assert_int_equal(d[16 + 8], 2);
	assert_int_equal(perso_div_data(0, serial, 24, d), 24);
	assert_int_equal(d[8], serial[0] ^ 0xFF);
	assert_int_equal(perso_div_data(1, serial, 8, d), 0);
	assert_int_equal(perso_div_data(0, serial, 32, d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_div_data),
		cmocka_unit_test(test_list_kcv),
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_import_errors),
		cmocka_unit_test(test_masters_hold_their_value),
		cmocka_unit_test(test_derive_wrapped),
		cmocka_unit_test(test_transport_code),
		cmocka_unit_test(test_no_leftover_objects),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
