"""moto's server with AWS's resharding semantics for Kinesis: ``python moto_kinesis_server.py -H … -p …``.

moto 5.2's SplitShard re-puts the parent's records (into the parent again: its hash lookup
does not skip closed shards), MergeShards copies both parents' records into the child, and
PutRecord(s) keep routing to closed shards. AWS does none of these: a closed shard keeps its
records and takes no new ones, and new records go to the open child whose hash range holds the
key (Kinesis Developer Guide, "Resharding a Stream"). Tests of a reader across a split or a
merge need those semantics, so this launcher patches the three places and runs moto's server
unchanged otherwise. Everything else (HTTP, iterators, sequence numbers) is moto's.
"""

from __future__ import annotations

import sys
from operator import attrgetter

from moto.kinesis import models
from moto.kinesis.exceptions import InvalidArgumentError


def patch() -> None:
    def get_shard_for_key(self, partition_key, explicit_hash_key):
        if not isinstance(partition_key, str) or len(partition_key) > 256:
            raise InvalidArgumentError("partition_key")
        key = int(explicit_hash_key) if explicit_hash_key else int(
            models.md5_hash(partition_key.encode("utf-8")).hexdigest(), 16)
        for shard in self.shards.values():
            if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
                return shard
        return None

    def split_shard(self, shard_to_split, new_starting_hash_key):
        new_start = int(new_starting_hash_key)
        shard = self.shards[shard_to_split]
        if not shard.starting_hash < new_start < shard.ending_hash or not shard.is_open:
            raise InvalidArgumentError(f"cannot split {shard_to_split} at {new_starting_hash_key}")
        last = max(self.shards.values(), key=attrgetter("_shard_id"))._shard_id
        for n, (lo, hi) in enumerate(((shard.starting_hash, new_start - 1), (new_start, shard.ending_hash))):
            child = models.Shard(last + 1 + n, starting_hash=lo, ending_hash=hi, parent=shard.shard_id)
            self.shards[child.shard_id] = child
        shard.is_open = False

    def merge_shards(self, shard_to_merge, adjacent_shard_to_merge):
        a, b = self.shards[shard_to_merge], self.shards[adjacent_shard_to_merge]
        if a.ending_hash + 1 != b.starting_hash or not (a.is_open and b.is_open):
            raise InvalidArgumentError(adjacent_shard_to_merge)
        last = max(self.shards.values(), key=attrgetter("_shard_id"))._shard_id
        child = models.Shard(last + 1, starting_hash=a.starting_hash, ending_hash=b.ending_hash,
                             parent=a.shard_id, adjacent_parent=b.shard_id)
        self.shards[child.shard_id] = child
        a.is_open = b.is_open = False

    models.Stream.get_shard_for_key = get_shard_for_key
    models.Stream.split_shard = split_shard
    models.Stream.merge_shards = merge_shards


if __name__ == "__main__":
    patch()
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
