/* A PKCS#11 module shim for tests/token_trials.rs: tokens that refuse what tpm2-pkcs11 1.9
 * refuses. It forwards everything to the real module (REFUSING_TOKEN_REAL, default Debian's
 * SoftHSM2), except that on a token labelled "read-only…" C_CreateObject and C_GenerateKey
 * return CKR_SESSION_READ_ONLY in a session that has not logged in (tpm2-pkcs11 makes no
 * object, not even a session object, without a login), and that on a token labelled
 * "no-keygen…" C_GenerateKey returns CKR_FUNCTION_NOT_SUPPORTED (tpm2-pkcs11 generates no AES
 * key), and that on a token labelled "no-kwp…" C_GetMechanismInfo of CKM_AES_KEY_WRAP_PAD and
 * CKM_AES_KEY_WRAP_KWP returns CKR_MECHANISM_INVALID (openCryptoki 3.8 and tpm2-pkcs11 have
 * neither), and that on a token labelled "no-destroy…" C_DestroyObject returns
 * CKR_FUNCTION_FAILED. With REFUSING_TOKEN_NO_SLOTS set, C_GetSlotList lists no slot at all (as
 * p11-kit's client does when its server is down).
 *
 * Self-contained (no PKCS#11 header): a CK_FUNCTION_LIST of version 2.40 is a CK_VERSION and 68
 * function pointers. Build: gcc -shared -fPIC -o refusing.so refusing_token.c
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef struct {
    unsigned char major, minor;
} CK_VERSION;
typedef void *CK_FN; /* a function pointer, as the loader hands them out */

#define FUNCTIONS 68
#define C_GET_SLOT_LIST 4
#define C_GET_TOKEN_INFO 6
#define C_GET_MECHANISM_INFO 8
#define C_GET_SESSION_INFO 15
#define C_CREATE_OBJECT 20
#define C_DESTROY_OBJECT 22
#define C_GENERATE_KEY 58
#define CKR_GENERAL_ERROR 5UL
#define CKR_FUNCTION_FAILED 6UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define CKR_SESSION_READ_ONLY 0xB5UL
#define CKR_MECHANISM_INVALID 0x70UL
#define CKM_AES_KEY_WRAP_PAD 0x210AUL
#define CKM_AES_KEY_WRAP_KWP 0x210BUL
#define CKS_RW_PUBLIC_SESSION 2UL

struct function_list {
    CK_VERSION version;
    CK_FN f[FUNCTIONS];
};

/* CK_TOKEN_INFO, in the order and with the types of the PKCS#11 2.40 header. */
struct token_info {
    unsigned char label[32];
    unsigned char manufacturer[32];
    unsigned char model[16];
    unsigned char serial[16];
    CK_ULONG flags;
    CK_ULONG counts[10];
    CK_VERSION hardware;
    CK_VERSION firmware;
    unsigned char utc_time[16];
};

struct session_info {
    CK_ULONG slot;
    CK_ULONG state;
    CK_ULONG flags;
    CK_ULONG device_error;
};

typedef CK_RV (*get_token_info_fn)(CK_ULONG slot, struct token_info *info);
typedef CK_RV (*get_session_info_fn)(CK_ULONG session, struct session_info *info);
typedef CK_RV (*create_object_fn)(CK_ULONG session, void *template, CK_ULONG count,
                                  CK_ULONG *object);
typedef CK_RV (*generate_key_fn)(CK_ULONG session, void *mechanism, void *template,
                                 CK_ULONG count, CK_ULONG *key);
typedef CK_RV (*get_mechanism_info_fn)(CK_ULONG slot, CK_ULONG type, void *info);
typedef CK_RV (*destroy_object_fn)(CK_ULONG session, CK_ULONG object);
typedef CK_RV (*get_list_fn)(struct function_list **list);

static struct function_list copy;
static struct function_list *real;

/* Whether the session's token has a label starting with `prefix`; `public` is set when the
 * session has not logged in. */
static int token_is(CK_ULONG session, const char *prefix, int *public) {
    struct session_info s;
    struct token_info t;
    if (((get_session_info_fn)real->f[C_GET_SESSION_INFO])(session, &s) != 0) {
        return 0;
    }
    if (((get_token_info_fn)real->f[C_GET_TOKEN_INFO])(s.slot, &t) != 0) {
        return 0;
    }
    *public = s.state == CKS_RW_PUBLIC_SESSION;
    return memcmp(t.label, prefix, strlen(prefix)) == 0;
}

static CK_RV no_slots(unsigned char token_present, CK_ULONG *list, CK_ULONG *count) {
    (void)token_present;
    (void)list;
    *count = 0;
    return 0;
}

static CK_RV refusing_get_mechanism_info(CK_ULONG slot, CK_ULONG type, void *info) {
    struct token_info t;
    if ((type == CKM_AES_KEY_WRAP_PAD || type == CKM_AES_KEY_WRAP_KWP) &&
        ((get_token_info_fn)real->f[C_GET_TOKEN_INFO])(slot, &t) == 0 &&
        memcmp(t.label, "no-kwp", 6) == 0) {
        return CKR_MECHANISM_INVALID;
    }
    return ((get_mechanism_info_fn)real->f[C_GET_MECHANISM_INFO])(slot, type, info);
}

static CK_RV refusing_create_object(CK_ULONG session, void *template, CK_ULONG count,
                                    CK_ULONG *object) {
    int public = 0;
    if (token_is(session, "read-only", &public) && public) {
        return CKR_SESSION_READ_ONLY;
    }
    return ((create_object_fn)real->f[C_CREATE_OBJECT])(session, template, count, object);
}

static CK_RV refusing_generate_key(CK_ULONG session, void *mechanism, void *template,
                                   CK_ULONG count, CK_ULONG *key) {
    int public = 0;
    if (token_is(session, "read-only", &public) && public) {
        return CKR_SESSION_READ_ONLY;
    }
    if (token_is(session, "no-keygen", &public)) {
        return CKR_FUNCTION_NOT_SUPPORTED;
    }
    return ((generate_key_fn)real->f[C_GENERATE_KEY])(session, mechanism, template, count, key);
}

static CK_RV refusing_destroy_object(CK_ULONG session, CK_ULONG object) {
    int public = 0;
    if (token_is(session, "no-destroy", &public)) {
        return CKR_FUNCTION_FAILED;
    }
    return ((destroy_object_fn)real->f[C_DESTROY_OBJECT])(session, object);
}

CK_RV C_GetFunctionList(struct function_list **out) {
    const char *path = getenv("REFUSING_TOKEN_REAL");
    void *lib = dlopen(path != NULL ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        return CKR_GENERAL_ERROR;
    }
    get_list_fn get = (get_list_fn)dlsym(lib, "C_GetFunctionList");
    if (get == NULL || get(&real) != 0 || real == NULL) {
        return CKR_GENERAL_ERROR;
    }
    memcpy(&copy, real, sizeof copy);
    if (getenv("REFUSING_TOKEN_NO_SLOTS") != NULL) {
        copy.f[C_GET_SLOT_LIST] = (CK_FN)no_slots;
    }
    copy.f[C_GET_MECHANISM_INFO] = (CK_FN)refusing_get_mechanism_info;
    copy.f[C_CREATE_OBJECT] = (CK_FN)refusing_create_object;
    copy.f[C_DESTROY_OBJECT] = (CK_FN)refusing_destroy_object;
    copy.f[C_GENERATE_KEY] = (CK_FN)refusing_generate_key;
    *out = &copy;
    return 0;
}
