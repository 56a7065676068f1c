// SPDX-License-Identifier: GPL-2.0
/*
 * vexfs - a small in-memory filesystem, the example kernel module bundled with
 * vexfs-image.
 *
 * Like ramfs, every file lives in the page cache and nothing is ever written back:
 * create, read, write, rename, unlink, link, symlink, mknod, mkdir, rmdir and statfs
 * are supported. Each `mount -t vexfs none DIR` makes a new, empty instance.
 *
 * Run-time information:
 *   /sys/module/vexfs/version   module version (MODULE_VERSION)
 *   /sys/fs/vexfs/version       the same
 *   /sys/fs/vexfs/mounts        number of mounted vexfs instances (superblocks)
 *   /sys/fs/vexfs/inodes        inodes alive across all instances
 *
 * Builds against Linux 6.1 (Debian 12) and 6.12 (Debian 13); the VFS interfaces that
 * changed in between are handled with LINUX_VERSION_CODE guards below.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/init.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/version.h>

#ifndef VEXFS_VERSION
#define VEXFS_VERSION "0.0.0-unknown"
#endif

#define VEXFS_MAGIC 0x56455846 /* "VEXF" */
#define VEXFS_DEFAULT_MODE 0755

/* 6.3 replaced the user_namespace argument of inode operations with mnt_idmap. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define VEXFS_IDMAP_ARG struct mnt_idmap *idmap
#define VEXFS_IDMAP_NONE (&nop_mnt_idmap)
#else
#define VEXFS_IDMAP_ARG struct user_namespace *idmap
#define VEXFS_IDMAP_NONE (&init_user_ns)
#endif

static atomic_t vexfs_mounts = ATOMIC_INIT(0);
static atomic_long_t vexfs_inodes = ATOMIC_LONG_INIT(0);

static const struct super_operations vexfs_super_ops;
static const struct inode_operations vexfs_dir_inode_ops;
static const struct inode_operations vexfs_file_inode_ops;
static const struct file_operations vexfs_file_ops;

/* Timestamps: direct fields before 6.6, ctime accessors in 6.6, all accessors from 6.7. */
static void vexfs_init_times(struct inode *inode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	simple_inode_init_ts(inode);
#else
	inode->i_atime = inode->i_mtime = inode->i_ctime = current_time(inode);
#endif
}

static void vexfs_dir_changed(struct inode *dir)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	dir->i_mtime = inode_set_ctime_current(dir);
#else
	dir->i_mtime = dir->i_ctime = current_time(dir);
#endif
}

static struct inode *vexfs_get_inode(struct super_block *sb, const struct inode *dir,
				     umode_t mode, dev_t dev)
{
	struct inode *inode = new_inode(sb);

	if (!inode)
		return NULL;

	atomic_long_inc(&vexfs_inodes);
	inode->i_ino = get_next_ino();
	inode_init_owner(VEXFS_IDMAP_NONE, inode, dir, mode);
	inode->i_mapping->a_ops = &ram_aops;
	mapping_set_gfp_mask(inode->i_mapping, GFP_HIGHUSER);
	mapping_set_unevictable(inode->i_mapping);
	vexfs_init_times(inode);

	switch (mode & S_IFMT) {
	case S_IFREG:
		inode->i_op = &vexfs_file_inode_ops;
		inode->i_fop = &vexfs_file_ops;
		break;
	case S_IFDIR:
		inode->i_op = &vexfs_dir_inode_ops;
		inode->i_fop = &simple_dir_operations;
		/* "." plus the entry in the parent directory */
		inc_nlink(inode);
		break;
	case S_IFLNK:
		inode->i_op = &page_symlink_inode_operations;
		inode_nohighmem(inode);
		break;
	default:
		init_special_inode(inode, mode, dev);
		break;
	}
	return inode;
}

/* ---- directory operations ---- */

static int vexfs_mknod(VEXFS_IDMAP_ARG, struct inode *dir, struct dentry *dentry,
		       umode_t mode, dev_t dev)
{
	struct inode *inode = vexfs_get_inode(dir->i_sb, dir, mode, dev);

	if (!inode)
		return -ENOSPC;
	d_instantiate(dentry, inode);
	dget(dentry); /* pin the dentry: it is the only reference to the inode */
	vexfs_dir_changed(dir);
	return 0;
}

static int vexfs_create(VEXFS_IDMAP_ARG, struct inode *dir, struct dentry *dentry,
			umode_t mode, bool excl)
{
	return vexfs_mknod(idmap, dir, dentry, mode | S_IFREG, 0);
}

/* 6.15 made ->mkdir return a dentry; 6.1 and 6.12 return an int. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
static struct dentry *vexfs_mkdir(VEXFS_IDMAP_ARG, struct inode *dir, struct dentry *dentry,
				  umode_t mode)
{
	int err = vexfs_mknod(idmap, dir, dentry, mode | S_IFDIR, 0);

	if (err)
		return ERR_PTR(err);
	inc_nlink(dir);
	return NULL;
}
#else
static int vexfs_mkdir(VEXFS_IDMAP_ARG, struct inode *dir, struct dentry *dentry,
		       umode_t mode)
{
	int err = vexfs_mknod(idmap, dir, dentry, mode | S_IFDIR, 0);

	if (!err)
		inc_nlink(dir);
	return err;
}
#endif

static int vexfs_symlink(VEXFS_IDMAP_ARG, struct inode *dir, struct dentry *dentry,
			 const char *symname)
{
	struct inode *inode = vexfs_get_inode(dir->i_sb, dir, S_IFLNK | 0777, 0);
	int err;

	if (!inode)
		return -ENOSPC;
	err = page_symlink(inode, symname, strlen(symname) + 1);
	if (err) {
		iput(inode);
		return err;
	}
	d_instantiate(dentry, inode);
	dget(dentry);
	vexfs_dir_changed(dir);
	return 0;
}

static const struct inode_operations vexfs_dir_inode_ops = {
	.create = vexfs_create,
	.lookup = simple_lookup,
	.link = simple_link,
	.unlink = simple_unlink,
	.symlink = vexfs_symlink,
	.mkdir = vexfs_mkdir,
	.rmdir = simple_rmdir,
	.mknod = vexfs_mknod,
	.rename = simple_rename,
};

/* ---- regular files ---- */

static const struct inode_operations vexfs_file_inode_ops = {
	.setattr = simple_setattr,
	.getattr = simple_getattr,
};

static const struct file_operations vexfs_file_ops = {
	.read_iter = generic_file_read_iter,
	.write_iter = generic_file_write_iter,
	.mmap = generic_file_mmap,
	.fsync = noop_fsync,
	/* 6.5 removed generic_file_splice_read in favour of filemap_splice_read. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	.splice_read = filemap_splice_read,
#else
	.splice_read = generic_file_splice_read,
#endif
	.splice_write = iter_file_splice_write,
	.llseek = generic_file_llseek,
};

/* ---- superblock ---- */

static void vexfs_evict_inode(struct inode *inode)
{
	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	atomic_long_dec(&vexfs_inodes);
}

static const struct super_operations vexfs_super_ops = {
	.statfs = simple_statfs,
	.drop_inode = generic_delete_inode,
	.evict_inode = vexfs_evict_inode,
};

static int vexfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct inode *root;

	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_blocksize = PAGE_SIZE;
	sb->s_blocksize_bits = PAGE_SHIFT;
	sb->s_magic = VEXFS_MAGIC;
	sb->s_op = &vexfs_super_ops;
	sb->s_time_gran = 1;

	root = vexfs_get_inode(sb, NULL, S_IFDIR | VEXFS_DEFAULT_MODE, 0);
	sb->s_root = d_make_root(root);
	if (!sb->s_root)
		return -ENOMEM;

	/*
	 * A non-NULL s_fs_info marks a fully set-up instance: vexfs_kill_sb also runs
	 * after a failed fill_super and must only uncount what was counted.
	 */
	sb->s_fs_info = &vexfs_mounts;
	atomic_inc(&vexfs_mounts);
	return 0;
}

static int vexfs_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, vexfs_fill_super);
}

static const struct fs_context_operations vexfs_context_ops = {
	.get_tree = vexfs_get_tree,
};

static int vexfs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &vexfs_context_ops;
	return 0;
}

static void vexfs_kill_sb(struct super_block *sb)
{
	bool counted = sb->s_fs_info != NULL;

	kill_litter_super(sb);
	if (counted)
		atomic_dec(&vexfs_mounts);
}

static struct file_system_type vexfs_fs_type = {
	.owner = THIS_MODULE, /* a mounted instance pins the module: rmmod says "in use" */
	.name = "vexfs",
	.init_fs_context = vexfs_init_fs_context,
	.kill_sb = vexfs_kill_sb,
};

/* ---- /sys/fs/vexfs ---- */

static ssize_t version_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", VEXFS_VERSION);
}

static ssize_t mounts_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&vexfs_mounts));
}

static ssize_t inodes_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(&vexfs_inodes));
}

static struct kobj_attribute vexfs_attr_version = __ATTR_RO(version);
static struct kobj_attribute vexfs_attr_mounts = __ATTR_RO(mounts);
static struct kobj_attribute vexfs_attr_inodes = __ATTR_RO(inodes);

static struct attribute *vexfs_attrs[] = {
	&vexfs_attr_version.attr,
	&vexfs_attr_mounts.attr,
	&vexfs_attr_inodes.attr,
	NULL,
};

static const struct attribute_group vexfs_attr_group = {
	.attrs = vexfs_attrs,
};

static struct kobject *vexfs_kobj;

/* ---- module ---- */

static int __init vexfs_init(void)
{
	int err;

	vexfs_kobj = kobject_create_and_add("vexfs", fs_kobj);
	if (!vexfs_kobj)
		return -ENOMEM;
	err = sysfs_create_group(vexfs_kobj, &vexfs_attr_group);
	if (err)
		goto out_kobj;
	err = register_filesystem(&vexfs_fs_type);
	if (err)
		goto out_kobj;
	pr_info("version %s loaded\n", VEXFS_VERSION);
	return 0;

out_kobj:
	kobject_put(vexfs_kobj); /* also removes the attribute group */
	return err;
}

static void __exit vexfs_exit(void)
{
	unregister_filesystem(&vexfs_fs_type);
	kobject_put(vexfs_kobj);
	pr_info("version %s unloaded\n", VEXFS_VERSION);
}

module_init(vexfs_init);
module_exit(vexfs_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VexFS: a small in-memory filesystem (vexfs-image example)");
MODULE_AUTHOR("vexfs-image contributors");
MODULE_VERSION(VEXFS_VERSION);
MODULE_ALIAS_FS("vexfs");
