// Package routing decides which carriers may take a message and in what
// order. A Table is built once from configuration and never changed: a reload
// builds a new Table and swaps it, so a Plan in progress always sees one
// consistent table.
//
// Matching is longest prefix over the E.164 digits: the routes of the longest
// matching prefix come first, ordered by cost and then priority, followed by
// those of each shorter matching prefix as fallbacks. Circuit breakers, filters
// and weights come with the least-cost-routing work; the Table already
// explains every decision it makes.
package routing
