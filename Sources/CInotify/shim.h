// libinotifytools; inotify.h gives the complete struct inotify_event.
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>
