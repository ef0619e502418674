#!/usr/bin/env python3
"""S3 helpers for bench/remote.sh (boto3 against a local moto server).

  remote_s3.py ENDPOINT mkbucket BUCKET
  remote_s3.py ENDPOINT snap BUCKET PREFIX OUT.json   key -> [size, etag] under PREFIX
  remote_s3.py ENDPOINT diff BEFORE.json AFTER.json   prints "BYTES KEYS": the sizes of keys
                                                      that are new or changed (etag/size)
  remote_s3.py ENDPOINT total BUCKET PREFIX           prints "BYTES KEYS" under PREFIX
  remote_s3.py ENDPOINT rm BUCKET PREFIX              deletes every key under PREFIX
  remote_s3.py - freeport                             prints a free loopback TCP port
  remote_s3.py - cpu PID                              prints utime+stime of PID in seconds
"""
import json
import os
import socket
import sys


def client(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint,
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def listing(c, bucket, prefix):
    out = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = [o["Size"], o.get("ETag", "")]
    return out


def main():
    endpoint, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "freeport":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
        s.close()
    elif cmd == "cpu":
        with open(f"/proc/{args[0]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        # fields[0] is state (field 3); utime is field 14, stime field 15
        print(f"{(int(fields[11]) + int(fields[12])) / tck:.2f}")
    elif cmd == "mkbucket":
        client(endpoint).create_bucket(Bucket=args[0])
    elif cmd == "snap":
        with open(args[2], "w") as f:
            json.dump(listing(client(endpoint), args[0], args[1]), f)
    elif cmd == "diff":
        a = json.load(open(args[0]))
        b = json.load(open(args[1]))
        new = [k for k, v in b.items() if a.get(k) != v]
        print(sum(b[k][0] for k in new), len(new))
    elif cmd == "total":
        ls = listing(client(endpoint), args[0], args[1])
        print(sum(v[0] for v in ls.values()), len(ls))
    elif cmd == "rm":
        c = client(endpoint)
        keys = list(listing(c, args[0], args[1]))
        for i in range(0, len(keys), 1000):
            c.delete_objects(Bucket=args[0],
                             Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
