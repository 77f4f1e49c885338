/* A PKCS#11 module shim for tests/slots.rs: tokens whose C_GetTokenInfo is odd. It forwards
 * everything to the real module (ODD_TOKEN_INFO_REAL, default Debian's SoftHSM2), except that
 * C_GetTokenInfo of a token labelled "odd-clock…" sets CKF_CLOCK_ON_TOKEN and fills utcTime as
 * openCryptoki 3.8 does ("hh:mm:ss" and 8 NUL bytes), and that of a token labelled
 * "unreadable…" returns CKR_GENERAL_ERROR.
 *
 * Self-contained (no PKCS#11 header): a CK_FUNCTION_LIST of version 2.40 is a CK_VERSION and 68
 * function pointers, C_GetTokenInfo the 7th. Build: gcc -shared -fPIC -o odd.so odd_token_info.c
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
#define C_GET_TOKEN_INFO 6
#define CKR_GENERAL_ERROR 5UL
#define CKF_CLOCK_ON_TOKEN 0x40UL

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

typedef CK_RV (*get_token_info_fn)(CK_ULONG slot, struct token_info *info);
typedef CK_RV (*get_list_fn)(struct function_list **list);

static struct function_list copy;
static get_token_info_fn real_get_token_info;

static CK_RV odd_get_token_info(CK_ULONG slot, struct token_info *info) {
    CK_RV rv = real_get_token_info(slot, info);
    if (rv != 0 || info == NULL) {
        return rv;
    }
    if (memcmp(info->label, "unreadable", 10) == 0) {
        return CKR_GENERAL_ERROR;
    }
    if (memcmp(info->label, "odd-clock", 9) == 0) {
        info->flags |= CKF_CLOCK_ON_TOKEN;
        memset(info->utc_time, 0, sizeof info->utc_time);
        memcpy(info->utc_time, "07:11:35", 8);
    }
    return rv;
}

CK_RV C_GetFunctionList(struct function_list **out) {
    const char *real = getenv("ODD_TOKEN_INFO_REAL");
    void *lib = dlopen(real != NULL ? real : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        return CKR_GENERAL_ERROR;
    }
    get_list_fn get = (get_list_fn)dlsym(lib, "C_GetFunctionList");
    struct function_list *list = NULL;
    if (get == NULL || get(&list) != 0 || list == NULL) {
        return CKR_GENERAL_ERROR;
    }
    memcpy(&copy, list, sizeof copy);
    real_get_token_info = (get_token_info_fn)list->f[C_GET_TOKEN_INFO];
    copy.f[C_GET_TOKEN_INFO] = (CK_FN)odd_get_token_info;
    *out = &copy;
    return 0;
}
