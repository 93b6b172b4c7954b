export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/mnt/mtd/app
