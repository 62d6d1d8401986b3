// wasiconf.c: the C side of the wasiconf conformance guest (see
// testdata/guests/wasiconf), built with clang and wasi-libc for wasm32-wasi.
// It expects the same fixture preopened writable as "/" and a writable
// "/outputs", and prints "PASS name" or "FAIL name: why" per case, in order
// (later cases find what earlier ones left). It always exits 0.
//
//	/hello.txt      "hello\n"
//	/dir/a.txt      "a"
//	/dir/sub/b.txt  "b"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char why[256];

#define CHECK(cond, ...)                                  \
	do {                                                  \
		if (!(cond)) {                                    \
			snprintf(why, sizeof why, __VA_ARGS__);       \
			return 0;                                     \
		}                                                 \
	} while (0)

// fails checks that r is -1 with errno e.
#define FAILS(r, e, what) CHECK((r) == -1 && errno == (e), "%s: got %d (%s), want %s", what, (int)(r), strerror(errno), strerror(e))

static int content(const char *p, const char *want) {
	char buf[256];
	int fd = open(p, O_RDONLY);
	CHECK(fd >= 0, "open %s: %s", p, strerror(errno));
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	CHECK(n >= 0, "read %s: %s", p, strerror(errno));
	buf[n] = 0;
	CHECK(strcmp(buf, want) == 0, "%s holds \"%s\", want \"%s\"", p, buf, want);
	return 1;
}

static int put(const char *p, const char *s, int flags) {
	int fd = open(p, O_WRONLY | O_CREAT | flags, 0644);
	CHECK(fd >= 0, "open %s: %s", p, strerror(errno));
	ssize_t n = write(fd, s, strlen(s));
	close(fd);
	CHECK(n == (ssize_t)strlen(s), "write %s: %s", p, strerror(errno));
	return 1;
}

static int c_root_read(void) { return content("/hello.txt", "hello\n"); }

static int c_outputs_write(void) { return put("/outputs/c.txt", "c", O_TRUNC) && content("/outputs/c.txt", "c"); }

static int c_append_lower(void) { return put("/dir/a.txt", "x", O_APPEND) && content("/dir/a.txt", "ax"); }

static int c_readdir_merged(void) {
	if (!put("/dir/new", "n", O_TRUNC)) return 0;
	DIR *d = opendir("/dir");
	CHECK(d != NULL, "opendir /dir: %s", strerror(errno));
	int a = 0, sub = 0, nw = 0, other = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, "a.txt")) a++;
		else if (!strcmp(e->d_name, "sub")) sub++;
		else if (!strcmp(e->d_name, "new")) nw++;
		else if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) other++;
	}
	closedir(d);
	CHECK(a == 1 && sub == 1 && nw == 1 && other == 0, "/dir lists a.txt %d, sub %d, new %d, others %d", a, sub, nw, other);
	return 1;
}

static int c_symlink_enoent(void) {
	FAILS(symlink("x", "/nope/ln"), ENOENT, "symlink into a missing directory");
	return 1;
}

static int c_symlink_nofollow(void) {
	CHECK(symlink("hello.txt", "/cl") == 0, "symlink: %s", strerror(errno));
	FAILS(open("/cl", O_RDONLY | O_NOFOLLOW), ELOOP, "open O_NOFOLLOW of a link");
	struct stat st;
	CHECK(fstatat(AT_FDCWD, "/cl", &st, AT_SYMLINK_NOFOLLOW) == 0, "lstat: %s", strerror(errno));
	CHECK(S_ISLNK(st.st_mode), "lstat mode %o", st.st_mode);
	char buf[64];
	ssize_t n = readlink("/cl", buf, sizeof buf);
	CHECK(n == 9 && !memcmp(buf, "hello.txt", 9), "readlink: %zd", n);
	return content("/cl", "hello\n");
}

static int c_utimensat(void) {
	struct timespec ts[2] = {{1600000000, 5}, {1700000000, 7}};
	CHECK(utimensat(AT_FDCWD, "/hello.txt", ts, 0) == 0, "utimensat: %s", strerror(errno));
	struct stat st;
	CHECK(stat("/hello.txt", &st) == 0, "stat: %s", strerror(errno));
	CHECK(st.st_mtim.tv_sec == 1700000000 && st.st_mtim.tv_nsec == 7, "mtime %lld.%ld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	CHECK(st.st_atim.tv_sec == 1600000000 && st.st_atim.tv_nsec == 5, "atime %lld.%ld", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	return 1;
}

static int c_futimens(void) {
	int fd = open("/outputs/c.txt", O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	struct timespec ts[2] = {{UTIME_OMIT, UTIME_OMIT}, {1234567890, 0}};
	int r = futimens(fd, ts);
	struct stat st;
	int s = fstat(fd, &st);
	close(fd);
	CHECK(r == 0 && s == 0, "futimens: %s", strerror(errno));
	CHECK(st.st_mtim.tv_sec == 1234567890, "mtime %lld", (long long)st.st_mtim.tv_sec);
	return 1;
}

static int c_link_inode(void) {
	CHECK(link("/outputs/c.txt", "/outputs/c2.txt") == 0, "link: %s", strerror(errno));
	struct stat a, b;
	CHECK(stat("/outputs/c.txt", &a) == 0 && stat("/outputs/c2.txt", &b) == 0, "stat: %s", strerror(errno));
	CHECK(a.st_ino == b.st_ino && a.st_nlink == 2, "inodes %llu and %llu, nlink %llu", (unsigned long long)a.st_ino, (unsigned long long)b.st_ino, (unsigned long long)a.st_nlink);
	return 1;
}

static int c_errnos(void) {
	FAILS(mkdir("/dir", 0755), EEXIST, "mkdir of an existing directory");
	FAILS(rmdir("/dir"), ENOTEMPTY, "rmdir of a full directory");
	FAILS(rmdir("/hello.txt"), ENOTDIR, "rmdir of a file");
	FAILS(unlink("/missing"), ENOENT, "unlink of nothing");
	FAILS(open("/missing/x", O_RDONLY), ENOENT, "open below nothing");
	FAILS(open("/hello.txt/x", O_RDONLY), ENOTDIR, "open below a file");
	FAILS(open("/hello.txt", O_RDONLY | O_CREAT | O_EXCL, 0644), EEXIST, "O_EXCL on a file");
	FAILS(rename("/dir", "/hello.txt"), ENOTDIR, "rename of a directory over a file");
	return 1;
}

static int c_rename_lower(void) {
	CHECK(rename("/dir/sub", "/csub") == 0, "rename: %s", strerror(errno));
	struct stat st;
	FAILS(stat("/dir/sub", &st), ENOENT, "stat of the old name");
	return content("/csub/b.txt", "b");
}

static int c_unlink_lower(void) {
	CHECK(unlink("/dir/a.txt") == 0, "unlink: %s", strerror(errno));
	struct stat st;
	FAILS(stat("/dir/a.txt", &st), ENOENT, "stat after unlink");
	return 1;
}

struct check {
	const char *name;
	int (*run)(void);
};

static const struct check checks[] = {
	{"c_root_read", c_root_read},
	{"c_outputs_write", c_outputs_write},
	{"c_append_lower", c_append_lower},
	{"c_readdir_merged", c_readdir_merged},
	{"c_symlink_enoent", c_symlink_enoent},
	{"c_symlink_nofollow", c_symlink_nofollow},
	{"c_utimensat", c_utimensat},
	{"c_futimens", c_futimens},
	{"c_link_inode", c_link_inode},
	{"c_errnos", c_errnos},
	{"c_rename_lower", c_rename_lower},
	{"c_unlink_lower", c_unlink_lower},
};

int main(void) {
	for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
		why[0] = 0;
		if (checks[i].run()) {
			printf("PASS %s\n", checks[i].name);
		} else {
			printf("FAIL %s: %s\n", checks[i].name, why);
		}
	}
	return 0;
}
