/* A stand-in for Windows' bcryptprimitives.dll, for running our Windows test
 * binaries under Wine 8 (Debian bookworm), which lacks that DLL.
 *
 * Rust's std (>= 1.78) imports ProcessPrng from bcryptprimitives.dll for its
 * random numbers (HashMap seeds, temp-file names); without the DLL every test
 * binary fails to start ("Library bcryptprimitives.dll ... not found").
 * This shim implements ProcessPrng with RtlGenRandom (advapi32's
 * SystemFunction036), which Wine provides. It is only ever copied into the
 * private Wine prefix used by scripts/test-platforms; real Windows ships the
 * real DLL. Built with: x86_64-w64-mingw32-gcc -shared -O2 -o
 * bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
