/* A PKCS#11 module shim for tests/ceremony.rs: a module that cannot lock for the application's
 * threads, as PKCS#11 lets one be. It forwards everything to the real module (CANT_LOCK_REAL,
 * default Debian's SoftHSM2), except that C_Initialize with CKF_OS_LOCKING_OK returns
 * CKR_CANT_LOCK (unless CANT_LOCK_LOCKS is set: the control, a module that locks), and that
 * C_GenerateKey, C_WrapKey, C_GetAttributeValue and C_FindObjectsInit count the calls in flight,
 * C_GenerateKey and C_WrapKey taking 20 ms more so that calls from two threads would overlap;
 * with CANT_LOCK_SESSIONS=N, C_OpenSession answers CKR_SESSION_COUNT while N sessions are open;
 * with CANT_LOCK_SERIAL set, those four calls take one lock, as a module that serializes its
 * calls does (p11-kit's client), so that none overlaps another.
 * The file CANT_LOCK_LOG gets a line for each C_Initialize ("initialize locking",
 * "initialize refused", "initialize one thread") and "concurrent" whenever a call begins while
 * another is in flight.
 *
 * Self-contained (no PKCS#11 header): a CK_FUNCTION_LIST of version 2.40 is a CK_VERSION and 68
 * function pointers, C_Initialize the 1st. Build: gcc -shared -fPIC -o cant_lock.so cant_lock.c
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef struct {
    unsigned char major, minor;
} CK_VERSION;
typedef void *CK_FN; /* a function pointer, as the loader hands them out */

#define FUNCTIONS 68
#define C_INITIALIZE 0
#define C_OPEN_SESSION 12
#define C_CLOSE_SESSION 13
#define C_GET_ATTRIBUTE_VALUE 24
#define C_FIND_OBJECTS_INIT 26
#define C_GENERATE_KEY 58
#define C_WRAP_KEY 60
#define CKR_CANT_LOCK 0x0AUL
#define CKR_GENERAL_ERROR 5UL
#define CKR_SESSION_COUNT 0xB1UL
#define CKF_OS_LOCKING_OK 2UL

struct function_list {
    CK_VERSION version;
    CK_FN f[FUNCTIONS];
};

/* CK_C_INITIALIZE_ARGS: four mutex functions, the flags, a reserved pointer. */
struct initialize_args {
    CK_FN mutex[4];
    CK_ULONG flags;
    void *reserved;
};

typedef CK_RV (*initialize_fn)(struct initialize_args *args);
typedef CK_RV (*open_session_fn)(CK_ULONG slot, CK_ULONG flags, void *application, CK_FN notify,
                                 CK_ULONG *session);
typedef CK_RV (*close_session_fn)(CK_ULONG session);
typedef CK_RV (*get_attribute_value_fn)(CK_ULONG session, CK_ULONG object, void *template,
                                        CK_ULONG count);
typedef CK_RV (*find_objects_init_fn)(CK_ULONG session, void *template, CK_ULONG count);
typedef CK_RV (*generate_key_fn)(CK_ULONG session, void *mechanism, void *template,
                                 CK_ULONG count, CK_ULONG *key);
typedef CK_RV (*wrap_key_fn)(CK_ULONG session, void *mechanism, CK_ULONG wrapping, CK_ULONG key,
                             unsigned char *wrapped, CK_ULONG *length);
typedef CK_RV (*get_list_fn)(struct function_list **list);

static struct function_list copy;
static struct function_list *real;
static int in_flight;
static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER;
static int sessions_open;

static void note(const char *line) {
    const char *path = getenv("CANT_LOCK_LOG");
    FILE *f = path != NULL ? fopen(path, "a") : NULL;
    if (f != NULL) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
}

static void begin(int slow) {
    if (getenv("CANT_LOCK_SERIAL") != NULL) {
        pthread_mutex_lock(&serial);
    }
    if (__atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST) > 1) {
        note("concurrent");
    }
    if (slow) {
        struct timespec pause = {0, 20000000};
        nanosleep(&pause, NULL);
    }
}

static void end(void) {
    __atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
    if (getenv("CANT_LOCK_SERIAL") != NULL) {
        pthread_mutex_unlock(&serial);
    }
}

static CK_RV shim_initialize(struct initialize_args *args) {
    if (args != NULL && (args->flags & CKF_OS_LOCKING_OK) != 0) {
        if (getenv("CANT_LOCK_LOCKS") == NULL) {
            note("initialize refused");
            return CKR_CANT_LOCK;
        }
        note("initialize locking");
        return ((initialize_fn)real->f[C_INITIALIZE])(args);
    }
    note("initialize one thread");
    /* The module underneath is asked to lock all the same: p11-kit's client, for one, will not
     * be initialised without (it answers CKR_CANT_LOCK itself). */
    struct initialize_args locking = {{NULL, NULL, NULL, NULL}, CKF_OS_LOCKING_OK, NULL};
    return ((initialize_fn)real->f[C_INITIALIZE])(&locking);
}

static CK_RV shim_open_session(CK_ULONG slot, CK_ULONG flags, void *application, CK_FN notify,
                               CK_ULONG *session) {
    const char *most = getenv("CANT_LOCK_SESSIONS");
    if (most != NULL && __atomic_load_n(&sessions_open, __ATOMIC_SEQ_CST) >= atoi(most)) {
        return CKR_SESSION_COUNT;
    }
    CK_RV rv = ((open_session_fn)real->f[C_OPEN_SESSION])(slot, flags, application, notify,
                                                          session);
    if (rv == 0) {
        __atomic_add_fetch(&sessions_open, 1, __ATOMIC_SEQ_CST);
    }
    return rv;
}

static CK_RV shim_close_session(CK_ULONG session) {
    CK_RV rv = ((close_session_fn)real->f[C_CLOSE_SESSION])(session);
    if (rv == 0) {
        __atomic_sub_fetch(&sessions_open, 1, __ATOMIC_SEQ_CST);
    }
    return rv;
}

static CK_RV shim_get_attribute_value(CK_ULONG session, CK_ULONG object, void *template,
                                      CK_ULONG count) {
    begin(0);
    CK_RV rv = ((get_attribute_value_fn)real->f[C_GET_ATTRIBUTE_VALUE])(session, object,
                                                                        template, count);
    end();
    return rv;
}

static CK_RV shim_find_objects_init(CK_ULONG session, void *template, CK_ULONG count) {
    begin(0);
    CK_RV rv = ((find_objects_init_fn)real->f[C_FIND_OBJECTS_INIT])(session, template, count);
    end();
    return rv;
}

static CK_RV shim_generate_key(CK_ULONG session, void *mechanism, void *template,
                               CK_ULONG count, CK_ULONG *key) {
    begin(1);
    CK_RV rv = ((generate_key_fn)real->f[C_GENERATE_KEY])(session, mechanism, template, count,
                                                          key);
    end();
    return rv;
}

static CK_RV shim_wrap_key(CK_ULONG session, void *mechanism, CK_ULONG wrapping, CK_ULONG key,
                           unsigned char *wrapped, CK_ULONG *length) {
    begin(1);
    CK_RV rv = ((wrap_key_fn)real->f[C_WRAP_KEY])(session, mechanism, wrapping, key, wrapped,
                                                  length);
    end();
    return rv;
}

CK_RV C_GetFunctionList(struct function_list **out) {
    const char *path = getenv("CANT_LOCK_REAL");
    void *lib = dlopen(path != NULL ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        return CKR_GENERAL_ERROR;
    }
    get_list_fn get = (get_list_fn)dlsym(lib, "C_GetFunctionList");
    if (get == NULL || get(&real) != 0 || real == NULL) {
        return CKR_GENERAL_ERROR;
    }
    memcpy(&copy, real, sizeof copy);
    copy.f[C_INITIALIZE] = (CK_FN)shim_initialize;
    copy.f[C_OPEN_SESSION] = (CK_FN)shim_open_session;
    copy.f[C_CLOSE_SESSION] = (CK_FN)shim_close_session;
    copy.f[C_GET_ATTRIBUTE_VALUE] = (CK_FN)shim_get_attribute_value;
    copy.f[C_FIND_OBJECTS_INIT] = (CK_FN)shim_find_objects_init;
    copy.f[C_GENERATE_KEY] = (CK_FN)shim_generate_key;
    copy.f[C_WRAP_KEY] = (CK_FN)shim_wrap_key;
    *out = &copy;
    return 0;
}
