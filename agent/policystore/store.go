// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policystore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/policy"
)

const (
	headKey     = "policy/head"
	rulesPrefix = "policy/rules/"
	// DefaultChunkSize keeps every put far below etcd's default request
	// limit of 1.5 MiB.
	DefaultChunkSize = 512 << 10
	// maxAttempts bounds the CAS retries of one change against other
	// writers.
	maxAttempts = 50
)

// ErrConflict: other agents kept changing the rules faster than this one
// could commit.
var ErrConflict = errors.New("policy changed concurrently too often")

// head is the value of policy/head: which chunk set holds revision N.
type head struct {
	Revision uint64 `json:"revision"`
	Set      string `json:"set"`
	Chunks   int    `json:"chunks"`
	Count    int    `json:"count"`
	SHA256   string `json:"sha256"` // of the chunks' bytes in order
}

// Store reads and changes the cluster's rules. Safe for concurrent use,
// also by several agents at once.
type Store struct {
	kv     *kvstore.Store
	logger *slog.Logger
	// ChunkSize is the largest chunk in bytes (a rule larger than that gets
	// a chunk of its own); DefaultChunkSize unless a test changes it
	// before first use.
	ChunkSize int
	// beforeCommit, when set (tests), runs between reading the head and
	// committing a change, where another writer may come first.
	beforeCommit func()
}

// New returns a Store on the cluster's kvstore.
func New(kv *kvstore.Store, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.Default()
	}
	return &Store{kv: kv, logger: logger.With("subsys", "policystore"), ChunkSize: DefaultChunkSize}
}

// snapshot is one committed rule set and the mod revision of its head (0
// when there is no head yet).
type snapshot struct {
	rules  []policy.Rule
	head   head
	modRev int64
}

// Load returns the current rules and their revision; revision 0 and no
// rules when none were ever imported.
func (s *Store) Load(ctx context.Context) ([]policy.Rule, uint64, error) {
	snap, err := s.load(ctx)
	if err != nil {
		return nil, 0, err
	}
	return snap.rules, snap.head.Revision, nil
}

func (s *Store) load(ctx context.Context) (snapshot, error) {
	var err error
	// A compaction between reading the head and its chunks, or a set
	// replaced meanwhile, is harmless: read the new head.
	for range 5 {
		var snap snapshot
		if snap, err = s.loadOnce(ctx); err == nil || !errors.Is(err, errRetry) {
			return snap, err
		}
	}
	return snapshot{}, err
}

var errRetry = errors.New("policy set changed while reading")

func (s *Store) loadOnce(ctx context.Context) (snapshot, error) {
	cli := s.kv.Client()
	resp, err := cli.Get(ctx, s.kv.Key(headKey))
	if err != nil {
		return snapshot{}, fmt.Errorf("load policy head: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return snapshot{}, nil
	}
	snap := snapshot{modRev: resp.Kvs[0].ModRevision}
	if err := json.Unmarshal(resp.Kvs[0].Value, &snap.head); err != nil {
		return snapshot{}, fmt.Errorf("load policy head: %w", err)
	}
	h := snap.head
	sum := sha256.New()
	for i := range h.Chunks {
		key := chunkKey(h.Set, i)
		cr, err := cli.Get(ctx, s.kv.Key(key), clientv3.WithRev(resp.Header.Revision))
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return snapshot{}, fmt.Errorf("load policy revision %d: %w", h.Revision, err)
			}
			return snapshot{}, fmt.Errorf("load %s: %w: %w", key, errRetry, err)
		}
		if len(cr.Kvs) == 0 {
			return snapshot{}, fmt.Errorf("load policy revision %d: chunk %s missing", h.Revision, key)
		}
		data := cr.Kvs[0].Value
		sum.Write(data)
		rules, err := policy.Parse(data)
		if err != nil {
			return snapshot{}, fmt.Errorf("load policy revision %d: chunk %d: %w", h.Revision, i, err)
		}
		snap.rules = append(snap.rules, rules...)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.SHA256 {
		return snapshot{}, fmt.Errorf("load policy revision %d: checksum %s, head says %s", h.Revision, got, h.SHA256)
	}
	if len(snap.rules) != h.Count {
		return snapshot{}, fmt.Errorf("load policy revision %d: %d rules, head says %d", h.Revision, len(snap.rules), h.Count)
	}
	return snap, nil
}

// Import adds rules (Cilium's `policy import`, additive); with replace,
// existing rules that carry all the labels of an imported rule are deleted
// first (`--replace`). It returns the new revision.
func (s *Store) Import(ctx context.Context, rules []policy.Rule, replace bool) (uint64, error) {
	if len(rules) == 0 {
		return 0, errors.New("import policy: no rules")
	}
	if err := validate(rules); err != nil {
		return 0, fmt.Errorf("import policy: %w", err)
	}
	rev, err := s.modify(ctx, func(repo *policy.Repository) bool {
		if replace {
			repo.Replace(rules)
		} else {
			repo.Add(rules)
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("import policy: %w", err)
	}
	return rev, nil
}

// ReplaceWithLabels deletes the rules carrying all of labels
// ("[source:]key[=value]", any source when none is given) and adds rules,
// in one revision (`--replace-with-labels`). It returns the revision and
// how many rules were deleted.
func (s *Store) ReplaceWithLabels(ctx context.Context, rules []policy.Rule, labels []string) (uint64, int, error) {
	sel, err := policy.ParseLabels(labels)
	if err != nil {
		return 0, 0, fmt.Errorf("replace policy: %w", err)
	}
	if err := validate(rules); err != nil {
		return 0, 0, fmt.Errorf("replace policy: %w", err)
	}
	var deleted int
	rev, err := s.modify(ctx, func(repo *policy.Repository) bool {
		_, deleted = repo.ReplaceWithLabels(rules, sel)
		return true
	})
	if err != nil {
		return 0, 0, fmt.Errorf("replace policy: %w", err)
	}
	return rev, deleted, nil
}

// Delete removes the rules carrying all of labels, or every rule with
// all. Deleting nothing keeps the revision. It returns the revision and
// how many rules went.
func (s *Store) Delete(ctx context.Context, labels []string, all bool) (uint64, int, error) {
	if !all && len(labels) == 0 {
		return 0, 0, errors.New("delete policy: give labels or all")
	}
	var sel policy.Labels
	if !all {
		var err error
		if sel, err = policy.ParseLabels(labels); err != nil {
			return 0, 0, fmt.Errorf("delete policy: %w", err)
		}
	}
	var deleted int
	rev, err := s.modify(ctx, func(repo *policy.Repository) bool {
		_, deleted = repo.Delete(sel)
		return deleted > 0
	})
	if err != nil {
		return 0, 0, fmt.Errorf("delete policy: %w", err)
	}
	return rev, deleted, nil
}

// validate makes sure what is stored parses back: a rule that Parse
// rejects would stop every agent from loading the set.
func validate(rules []policy.Rule) error {
	data, err := json.Marshal(rules)
	if err != nil {
		return fmt.Errorf("encode rules: %w", err)
	}
	if _, err := policy.Parse(data); err != nil {
		return err
	}
	return nil
}

// modify applies change to the current rules and commits the result as
// the next revision, starting again when another writer committed first.
// change runs once per attempt on a fresh repository and reports whether
// it changed anything.
func (s *Store) modify(ctx context.Context, change func(*policy.Repository) bool) (uint64, error) {
	backoff := 10 * time.Millisecond
	for range maxAttempts {
		snap, err := s.load(ctx)
		if err != nil {
			return 0, err
		}
		repo := policy.NewRepository()
		repo.Add(snap.rules)
		if !change(repo) {
			return snap.head.Revision, nil
		}
		rules, _ := repo.Get(nil)
		if s.beforeCommit != nil {
			s.beforeCommit()
		}
		ok, rev, err := s.commit(ctx, snap, rules)
		if err != nil {
			return 0, err
		}
		if ok {
			return rev, nil
		}
		s.logger.Debug("policy changed concurrently, retrying", "revision", snap.head.Revision)
		select {
		case <-time.After(backoff/2 + mrand.N(backoff)):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		backoff = min(2*backoff, time.Second)
	}
	return 0, ErrConflict
}

// commit writes rules as a new chunk set and points the head at it if the
// head is still the one snap was read from. ok is false when another
// writer came first; the chunks written are then removed again.
func (s *Store) commit(ctx context.Context, snap snapshot, rules []policy.Rule) (ok bool, rev uint64, err error) {
	chunks, sum, err := encode(rules, s.ChunkSize)
	if err != nil {
		return false, 0, err
	}
	rev = snap.head.Revision + 1
	h := head{Revision: rev, Set: setName(rev), Chunks: len(chunks), Count: len(rules), SHA256: sum}
	cli := s.kv.Client()
	cleanup := func() {
		// Best effort: a leftover set is deleted by the next commit.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := cli.Delete(dctx, s.kv.Key(rulesPrefix+h.Set+"/"), clientv3.WithPrefix()); err != nil {
			s.logger.Debug("leftover policy chunks not deleted", "set", h.Set, "err", err)
		}
	}
	for i, c := range chunks {
		if _, err := cli.Put(ctx, s.kv.Key(chunkKey(h.Set, i)), string(c)); err != nil {
			cleanup()
			return false, 0, fmt.Errorf("write policy chunk %d of %d: %w", i, len(chunks), err)
		}
	}
	hv, err := json.Marshal(h)
	if err != nil {
		cleanup()
		return false, 0, fmt.Errorf("encode policy head: %w", err)
	}
	hk := s.kv.Key(headKey)
	// Every set below the new revision is either the one replaced now or
	// one whose writer lost (its CAS cannot succeed any more): delete them
	// all with one range delete.
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(hk), "=", snap.modRev)).
		Then(clientv3.OpPut(hk, string(hv)),
			clientv3.OpDelete(s.kv.Key(rulesPrefix), clientv3.WithRange(s.kv.Key(rulesPrefix+revPrefix(rev))))).
		Commit()
	if err != nil {
		// The outcome is unknown: the chunks may be live now, so keep them.
		return false, 0, fmt.Errorf("commit policy revision %d: %w", rev, err)
	}
	if !resp.Succeeded {
		cleanup()
		return false, 0, nil
	}
	s.logger.Info("policy committed", "revision", rev, "rules", len(rules), "chunks", len(chunks))
	return true, rev, nil
}

// encode packs rules into JSON arrays of at most size bytes each and
// returns them with the SHA-256 of their concatenation.
func encode(rules []policy.Rule, size int) ([][]byte, string, error) {
	var chunks [][]byte
	var cur []byte
	for i := range rules {
		b, err := json.Marshal(&rules[i])
		if err != nil {
			return nil, "", fmt.Errorf("encode rule %d: %w", i, err)
		}
		if len(cur) > 0 && len(cur)+len(b)+2 > size {
			chunks = append(chunks, append(cur, ']'))
			cur = nil
		}
		if len(cur) == 0 {
			cur = append(cur, '[')
		} else {
			cur = append(cur, ',')
		}
		cur = append(cur, b...)
	}
	if len(cur) > 0 {
		chunks = append(chunks, append(cur, ']'))
	}
	sum := sha256.New()
	for _, c := range chunks {
		sum.Write(c)
	}
	return chunks, hex.EncodeToString(sum.Sum(nil)), nil
}

func revPrefix(rev uint64) string { return fmt.Sprintf("%020d", rev) }

// setName is unique per writer and attempt, so writers racing for the
// same revision never overwrite each other's chunks.
func setName(rev uint64) string {
	return revPrefix(rev) + "." + rand.Text()[:10]
}

func chunkKey(set string, i int) string { return fmt.Sprintf("%s%s/%06d", rulesPrefix, set, i) }
