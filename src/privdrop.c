/* Dropping privileges; see privdrop.h. */
#include "config.h"

#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "src/conf.h"
#include "src/log.h"
#include "src/privdrop.h"

static int
lookup_ids(const struct conf *conf, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct passwd	*pw;
	struct group	*gr;

	if ((pw = getpwnam(conf->user)) == NULL) {
		snprintf(err, errlen, "%s: user %s: no such user", conf->path,
		    conf->user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (conf->group != NULL) {
		if ((gr = getgrnam(conf->group)) == NULL) {
			snprintf(err, errlen, "%s: group %s: no such group",
			    conf->path, conf->group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

int
privdrop_check(const struct conf *conf, char *err, size_t errlen)
{
	uid_t	uid;
	gid_t	gid;

	if (conf->user == NULL) {
		if (geteuid() != 0)
			return 0;
		snprintf(err, errlen, "%s: refusing to run as root: set "
		    "\"user\" (\"user root\" to run as root on purpose)",
		    conf->path);
		return -1;
	}
	if (lookup_ids(conf, &uid, &gid, err, errlen) == -1)
		return -1;
	if (geteuid() != 0 && (uid != geteuid() || gid != getegid())) {
		snprintf(err, errlen, "%s: cannot switch to user %s: not "
		    "started as root", conf->path, conf->user);
		return -1;
	}
	return 0;
}

void
privdrop_ids(const struct conf *conf, uid_t *uid, gid_t *gid)
{
	char	err[CONF_ERR_MAX];

	*uid = geteuid();
	*gid = getegid();
	if (conf->user != NULL)
		lookup_ids(conf, uid, gid, err, sizeof(err));
}

/* Keep CAP_NET_BIND_SERVICE, and nothing else, across the uid switch. */
static void
keep_bind_cap(void)
{
	struct __user_cap_header_struct	hdr;
	struct __user_cap_data_struct	data[2];

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	data[0].effective = data[0].permitted =
	    1U << CAP_NET_BIND_SERVICE;
	if (syscall(SYS_capset, &hdr, data) == -1)
		log_debug("capset: %s: a reload cannot bind ports below "
		    "1024", strerror(errno));
}

int
privdrop(const struct conf *conf, char *err, size_t errlen)
{
	uid_t	uid;
	gid_t	gid;

	if (privdrop_check(conf, err, errlen) == -1)
		return -1;
	if (conf->user == NULL)
		return 0;
	lookup_ids(conf, &uid, &gid, err, errlen);
	if (uid == 0) {
		log_warnx("running as root (\"user root\" in %s)", conf->path);
		return 0;
	}
	if (geteuid() != 0)
		return 0;		/* already that user: checked above */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 ||
	    setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		snprintf(err, errlen, "switching to user %s: %s", conf->user,
		    strerror(errno));
		return -1;
	}
	keep_bind_cap();
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	/* Belt and braces: root must be gone for good. */
	if (setresuid(0, 0, 0) != -1) {
		snprintf(err, errlen, "switching to user %s: root could be "
		    "regained", conf->user);
		return -1;
	}
	log_info("running as user %s", conf->user);
	return 0;
}
