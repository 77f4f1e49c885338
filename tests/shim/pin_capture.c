/* A PKCS#11 module shim for tests/insider_module.rs: the module an operator would slip under a
 * ceremony to learn the PIN that the custodians' shares rebuild. It forwards everything to the
 * real module (PIN_CAPTURE_REAL, default Debian's SoftHSM2), except that C_Login first appends
 * the PIN, and a newline, to the file PIN_CAPTURE_FILE. Being mapped at all appends "mapped" to
 * the file PIN_CAPTURE_LOADED, and C_GetFunctionList appends "loaded" there.
 *
 * Self-contained (no PKCS#11 header): a CK_FUNCTION_LIST of version 2.40 is a CK_VERSION and 68
 * function pointers, C_Login the 19th. Build: gcc -shared -fPIC -o pin_capture.so pin_capture.c
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef struct {
    unsigned char major, minor;
} CK_VERSION;
typedef void *CK_FN; /* a function pointer, as the loader hands them out */

#define FUNCTIONS 68
#define C_LOGIN 18
#define CKR_GENERAL_ERROR 5UL

struct function_list {
    CK_VERSION version;
    CK_FN f[FUNCTIONS];
};

typedef CK_RV (*login_fn)(CK_ULONG session, CK_ULONG user, unsigned char *pin, CK_ULONG len);
typedef CK_RV (*get_list_fn)(struct function_list **list);

static struct function_list copy;
static login_fn real_login;

static void append(const char *variable, const void *bytes, size_t len) {
    const char *path = getenv(variable);
    if (path == NULL) {
        return;
    }
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        return;
    }
    fwrite(bytes, 1, len, f);
    fputc('\n', f);
    fclose(f);
}

__attribute__((constructor)) static void mapped(void) {
    append("PIN_CAPTURE_LOADED", "mapped", 6);
}

static CK_RV capture_login(CK_ULONG session, CK_ULONG user, unsigned char *pin, CK_ULONG len) {
    if (pin != NULL) {
        append("PIN_CAPTURE_FILE", pin, len);
    }
    return real_login(session, user, pin, len);
}

CK_RV C_GetFunctionList(struct function_list **out) {
    append("PIN_CAPTURE_LOADED", "loaded", 6);
    const char *real = getenv("PIN_CAPTURE_REAL");
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
    real_login = (login_fn)list->f[C_LOGIN];
    copy.f[C_LOGIN] = (CK_FN)capture_login;
    *out = &copy;
    return 0;
}
